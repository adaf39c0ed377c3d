import net from 'node:net';

/** One HTTP answer as it came off the socket; `status` 0 when none came. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Whatever came after the first final answer: a second answer to one request, say. */
  after: string;
}

/**
 * Sends `request` as bytes on a fresh connection to `url` and reads until the server closes it
 * (or `timeoutMs` pass): for what no HTTP client will send, such as a malformed request line,
 * a NUL in a header or a request without Host. Send `Connection: close` when the request is one
 * the server answers normally, so that it closes.
 */
export function rawExchange(url: string, request: string | Buffer, timeoutMs = 2000): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(Number(port), hostname, () => socket.write(request));
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A reset after the answer is how some refusals end; what arrived before it still counts.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseAnswer(Buffer.concat(chunks).toString('latin1')));
    });
  });
}

/**
 * POSTs `body` on a fresh connection the way a simple client does: the whole body first, then it
 * reads the answer. `error` is what ended the sending early (the server closed or reset the
 * connection before taking the whole body), if anything did.
 */
export function sendWhole(
  url: string,
  route: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs = 30_000,
): Promise<{ error: Error | undefined; answer: RawAnswer }> {
  const { hostname, port, host } = new URL(url);
  const head = [`POST ${route} HTTP/1.1`, `Host: ${host}`, `Content-Length: ${Buffer.byteLength(body)}`]
    .concat(Object.entries(headers).map(([name, value]) => `${name}: ${value}`))
    .join('\r\n');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: Error | undefined;
    const socket = net.connect(Number(port), hostname, () =>
      socket.write(`${head}\r\n\r\n${body}`, (err) => (error ??= err ?? undefined)),
    );
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err) => (error ??= err));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ error, answer: parseAnswer(Buffer.concat(chunks).toString('latin1')) });
    });
  });
}

/** The first final answer of a response stream (a `100 Continue` before it is skipped). */
function parseAnswer(text: string): RawAnswer {
  let rest = text;
  for (;;) {
    const split = rest.indexOf('\r\n\r\n');
    if (split < 0) return { status: 0, headers: {}, body: rest, after: '' };
    const [statusLine = '', ...lines] = rest.slice(0, split).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
    rest = rest.slice(split + 4);
    if (status >= 100 && status < 200) continue;
    const headers = Object.fromEntries(
      lines.map((line) => [
        line.slice(0, line.indexOf(':')).trim().toLowerCase(),
        line.slice(line.indexOf(':') + 1).trim(),
      ]),
    );
    const contentLength = Number(headers['content-length'] ?? rest.length);
    const { body, length } =
      headers['transfer-encoding'] === 'chunked'
        ? unchunk(rest)
        : { body: rest.slice(0, contentLength), length: contentLength };
    return { status, headers, body: Buffer.from(body, 'latin1').toString('utf8'), after: rest.slice(length) };
  }
}

/** A chunked body's content, and how many bytes of `raw` it took up to its last chunk. */
function unchunk(raw: string): { body: string; length: number } {
  let body = '';
  let at = 0;
  while (at < raw.length) {
    const end = raw.indexOf('\r\n', at);
    const size = parseInt(raw.slice(at, end), 16);
    if (!(size > 0)) return { body, length: end < 0 ? raw.length : end + 4 };
    body += raw.slice(end + 2, end + 2 + size);
    at = end + 2 + size + 2;
  }
  return { body, length: raw.length };
}

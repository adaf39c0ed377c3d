import net from 'node:net';

export interface LeanResponse {
  status: number;
  /** Header names in lower case. */
  headers: Map<string, string>;
  body: string;
}

interface Exchange {
  request: Buffer;
  resolve(response: LeanResponse): void;
  reject(err: Error): void;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * The steady-state bench's HTTP/1.1 client: up to `connections` keep-alive connections, opened
 * as the load needs them, one exchange at a time on each, requests queued when all are busy.
 * It shares the two cores with the system it loads, and a general client (undici) spent about
 * 90 µs of CPU per request there, a fifth of the machine at 4,000 requests a second, which the
 * system's own processes then waited for. This one writes a request with one syscall and reads
 * only what the bench needs: status, headers and a body of known length. A response of another
 * shape (a chunked body) or a lost connection fails its request rather than being guessed at.
 */
export function leanHttpPool(host: string, port: number, connections: number) {
  const queue: Exchange[] = [];
  const idle: Connection[] = [];
  const open = new Set<Connection>();
  let closed = false;

  class Connection {
    private readonly socket: net.Socket;
    private current: Exchange | undefined;
    private buffered: Buffer = Buffer.alloc(0);

    constructor() {
      open.add(this);
      this.socket = net.connect({ host, port, noDelay: true });
      this.socket.on('data', (chunk) => this.received(chunk));
      this.socket.on('error', (err) => this.fail(err));
      this.socket.on('close', () => this.fail(new Error('connection closed by the server')));
    }

    /** Writes before the connection is up wait in the socket until it is. */
    send(exchange: Exchange): void {
      this.current = exchange;
      this.socket.write(exchange.request);
    }

    close(): void {
      this.socket.destroy();
    }

    private fail(err: Error): void {
      if (!open.delete(this)) return;
      this.socket.destroy();
      const at = idle.indexOf(this);
      if (at >= 0) idle.splice(at, 1);
      this.current?.reject(err);
      this.current = undefined;
      const next = queue.shift();
      if (next) dispatch(next);
    }

    private received(chunk: Buffer): void {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      const headEnd = this.buffered.indexOf(HEAD_END);
      if (headEnd < 0) return;
      const lines = this.buffered.toString('latin1', 0, headEnd).split('\r\n');
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
      }
      const length = Number(headers.get('content-length'));
      if (!this.current || !Number.isInteger(length)) return this.fail(new Error(`unexpected response: ${lines[0]}`));
      const bodyStart = headEnd + HEAD_END.length;
      if (this.buffered.length < bodyStart + length) return;
      const response = {
        status: Number(lines[0]!.slice(9, 12)),
        headers,
        body: this.buffered.toString('utf8', bodyStart, bodyStart + length),
      };
      this.buffered = this.buffered.subarray(bodyStart + length);
      const current = this.current;
      this.current = undefined;
      const next = queue.shift();
      if (next) this.send(next);
      else idle.push(this);
      current.resolve(response);
    }
  }

  function dispatch(exchange: Exchange): void {
    if (closed) return exchange.reject(new Error('pool closed'));
    const connection = idle.pop() ?? (open.size < connections ? new Connection() : undefined);
    if (connection) connection.send(exchange);
    else queue.push(exchange);
  }

  return {
    request(
      method: 'GET' | 'POST',
      path: string,
      headers: Record<string, string>,
      body?: string,
    ): Promise<LeanResponse> {
      let head = `${method} ${path} HTTP/1.1\r\nhost: ${host}:${port}\r\n`;
      for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
      const payload = body === undefined ? undefined : Buffer.from(body);
      if (payload) head += `content-length: ${payload.length}\r\n`;
      const request = Buffer.concat(payload ? [Buffer.from(`${head}\r\n`), payload] : [Buffer.from(`${head}\r\n`)]);
      return new Promise((resolve, reject) => dispatch({ request, resolve, reject }));
    },
    close(): void {
      closed = true;
      for (const connection of open) connection.close();
      for (const waiting of queue.splice(0)) waiting.reject(new Error('pool closed'));
    },
  };
}

export type LeanHttpPool = ReturnType<typeof leanHttpPool>;

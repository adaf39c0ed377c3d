import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import Fastify, {
  LogController,
  type ConnectionError,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { registerOpsRoutes, type ReadinessCheck } from './ops-routes.ts';
import { UnavailableError } from '../errors.ts';
import {
  clientErrorProblem,
  frameworkProblem,
  problemType,
  registerProblemHandlers,
  sendError,
  sendProblem,
  type Problem,
} from './problems.ts';

export interface HttpAppOptions {
  logger: Logger;
  metrics: Metrics;
  readiness: Record<string, ReadinessCheck>;
  bodyLimit?: number;
  /** The most a request may take from arrival to answer; past it, 503 with `timeoutDetail`. */
  handlerTimeoutMs?: number;
  /** What a timed-out client is told; the command API says what became of its command. */
  timeoutDetail?: string;
}

/** A request whose headers or body take longer than this to arrive is dropped by Node. */
const RECEIVE_TIMEOUT_MS = 30_000;
const DEFAULT_HANDLER_TIMEOUT_MS = 10_000;
const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Answers a request Node's HTTP parser refused with a problem (fastify's default answers with
 * JSON of its own), then closes the connection: past a parse error the stream cannot be read on.
 */
function answerClientError(
  error: ConnectionError,
  socket: Socket & { _httpMessage?: { headersSent: boolean } | null },
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (!socket.writable) return void socket.destroy();
  // A request refused after its headers (an onRequest hook answered, then its body failed to
  // parse) has its answer already, perhaps still being written: a second one would answer a
  // request nobody sent. Node's own handler makes the same check on the same private field.
  if (socket._httpMessage?.headersSent) return void socket.end();
  answerOnSocket(socket, clientErrorProblem(error.code));
}

/** Writes `problem` as the one answer of a connection, with `headers` (lines), then closes it. */
function answerOnSocket(socket: Duplex, problem: Problem, headers: readonly string[] = []): void {
  const body = JSON.stringify(problem);
  const head = [
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}`,
    'Content-Type: application/problem+json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...headers,
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
}

/** Why a request Node's parser let through is not served, when it is not, and the headers of that answer. */
function refusalOf(request: FastifyRequest): { problem: Problem; headers: Record<string, string> } | undefined {
  const malformed = (detail: string, headers: Record<string, string> = {}) => ({
    problem: {
      type: problemType('malformed-request'),
      title: 'Malformed request',
      status: 400,
      detail,
      instance: request.url,
    },
    headers,
  });
  const unsupported = (detail: string, headers: Record<string, string> = {}) => ({
    problem: {
      type: problemType('unsupported-media-type'),
      title: 'Unsupported media type',
      status: 415,
      detail,
      instance: request.url,
    },
    headers,
  });
  // RFC 9112 §3.2: a server must refuse an HTTP/1.1 request that names no Host.
  if (request.raw.httpVersion === '1.1' && request.headers.host === undefined)
    return malformed('An HTTP/1.1 request needs a Host header.');
  // RFC 9112 §6.3: a request body framed by any coding but chunked has no length we could agree
  // on with a proxy in front (a smuggling vector); Node would read it as no body at all. Past
  // such a framing doubt the rest of the stream cannot be trusted either.
  const framing = request.headers['transfer-encoding'];
  if (framing !== undefined && !/(^|,)\s*chunked\s*$/i.test(framing))
    return malformed('Transfer-Encoding must end in chunked.', { connection: 'close' });
  // The query parser keeps a malformed escape (`%zz`, `%c3%28`) as its literal text: a filter the
  // client did not mean.
  const query = request.url.indexOf('?');
  if (query >= 0 && !wellEscaped(request.url.slice(query + 1)))
    return malformed('The query string holds a malformed percent-escape or one that is not UTF-8.');
  // Bodies are read as they come: one declared compressed would be taken for what it is not.
  const coding = request.headers['content-encoding'];
  if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
    // RFC 9110 §12.5.3: a 415 for a content coding names the codings that are accepted.
    return unsupported('Request bodies are taken without a content coding: send no Content-Encoding.', {
      'accept-encoding': 'identity',
    });
  }
  // RFC 8259 §8.1: JSON between systems is UTF-8. A body declared in another charset would be
  // read as UTF-8 all the same, and its text taken for what the client did not write.
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(request.headers['content-type'] ?? '')?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    return unsupported(
      `Request bodies are JSON in UTF-8: send charset=utf-8 or no charset, not ${JSON.stringify(charset)}.`,
    );
  }
  return undefined;
}

function wellEscaped(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

/** A fastify instance with what every service shares: problem details, health and metrics. */
export function createHttpApp({
  logger,
  metrics,
  readiness,
  bodyLimit,
  handlerTimeoutMs = DEFAULT_HANDLER_TIMEOUT_MS,
  timeoutDetail = 'The request did not complete in time.',
}: HttpAppOptions): FastifyInstance {
  // Typed with the base logger so plugins and routes see the plain FastifyInstance.
  const app = Fastify<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger>({
    loggerInstance: logger,
    // Per-request info lines cost more than they tell at thousands of requests a second.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'correlationId' }),
    ...(bodyLimit ? { bodyLimit } : {}),
    // Fastify turns Node's receive timeout off; a client trickling a body must not hold a socket forever.
    requestTimeout: RECEIVE_TIMEOUT_MS,
    // Errors fastify meets before routing (bad URL encoding, too long a path parameter) skip the
    // error handler; they get a problem too.
    frameworkErrors: (error, request, reply) => void sendProblem(reply, frameworkProblem(error, request.url)),
    clientErrorHandler: answerClientError,
    // Node answers an HTTP/1.1 request without Host with a bare 400 of its own; the onRequest
    // hook below refuses it with a problem instead.
    http: { requireHostHeader: false },
    // The request id is the correlation id: the caller's X-Correlation-Id when it is a sane one,
    // else a new one. It travels into events, logs and the answer's X-Correlation-Id.
    genReqId: (raw) => {
      const header = raw.headers['x-correlation-id'];
      return typeof header === 'string' && CORRELATION_ID.test(header) ? header : randomUUID();
    },
  });
  // The request timeout is a timer of our own rather than fastify's handlerTimeout, which
  // aborts an AbortController (and builds a DOMException) at the end of every request.
  const deadlines = new WeakMap<FastifyRequest, NodeJS.Timeout>();
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-correlation-id', request.id);
    const refusal = refusalOf(request);
    if (refusal) {
      void sendProblem(reply.headers(refusal.headers), refusal.problem);
      return;
    }
    deadlines.set(
      request,
      setTimeout(() => {
        if (!reply.sent && !request.raw.destroyed)
          void sendError(new UnavailableError(timeoutDetail, 1), request, reply);
      }, handlerTimeoutMs),
    );
    done();
  });
  app.addHook('onResponse', (request, _reply, done) => {
    clearTimeout(deadlines.get(request));
    done();
  });
  // Node closes a CONNECT (a request for a tunnel) without a word; it gets its refusal too.
  app.server.on('connect', (_request: IncomingMessage, socket: Duplex) =>
    answerOnSocket(
      socket,
      {
        type: problemType('method-not-allowed'),
        title: 'Method not allowed',
        status: 405,
        detail: 'This server opens no tunnels.',
      },
      ['Allow: GET, HEAD, POST, DELETE'],
    ),
  );
  // Bodies are JSON; anything else is refused with 415 rather than handed to a route as text.
  app.removeContentTypeParser('text/plain');
  registerProblemHandlers(app);
  registerOpsRoutes(app, metrics, readiness);
  return app;
}

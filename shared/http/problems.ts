import type { IncomingMessage } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, UnauthorizedError, UnavailableError, type FieldError } from '../errors.ts';

/** RFC 9457 problem details; `type` is stable per error code. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
}

export const problemType = (code: string) => `urn:movie-catalogue:problem:${code}`;

/** Fastify's own client errors mapped to our stable codes (body parsing, size, media type). */
const FRAMEWORK_ERRORS: Record<string, { code: string; title: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload-too-large', title: 'Request body too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported-media-type', title: 'Unsupported media type' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'malformed-body', title: 'Malformed request body' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'malformed-body', title: 'Malformed request body' },
  FST_ERR_BAD_URL: { code: 'malformed-url', title: 'Malformed URL' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'uri-too-long', title: 'URI too long' },
};

/** A problem for one of fastify's own client errors; 5xx ones say nothing of their cause. */
export function frameworkProblem(error: FastifyError, instance: string): Problem {
  const status = error.statusCode ?? 500;
  if (status >= 500)
    return { type: problemType('internal-error'), title: 'Internal server error', status: 500, instance };
  const known =
    (error.code && FRAMEWORK_ERRORS[error.code]) ||
    (error.code === 'FST_ERR_VALIDATION'
      ? { code: 'validation-failed', title: 'The request is not valid' }
      : undefined);
  const { code, title } = known ?? { code: 'bad-request', title: 'Bad request' };
  return { type: problemType(code), title, status, detail: error.message, instance };
}

/**
 * A problem for a request Node's HTTP parser refused (a malformed request line, header or chunk,
 * headers too large, too slow to arrive): such a request never reaches fastify's handlers.
 */
export function clientErrorProblem(code: string | undefined): Problem {
  if (code === 'HPE_HEADER_OVERFLOW')
    return { type: problemType('headers-too-large'), title: 'Request headers too large', status: 431 };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return {
      type: problemType('request-timeout'),
      title: 'Request timeout',
      status: 408,
      detail: 'The request did not arrive in time.',
    };
  return {
    type: problemType('malformed-request'),
    title: 'Malformed request',
    status: 400,
    detail: 'The request is not well-formed HTTP/1.1.',
  };
}

function toProblem(error: FastifyError | AppError, request: FastifyRequest): Problem {
  if (error instanceof AppError) {
    return {
      type: problemType(error.code),
      title: error.title,
      status: error.status,
      detail: error.message,
      instance: request.url,
      ...(error.fields ? { errors: error.fields } : {}),
    };
  }
  return frameworkProblem(error, request.url);
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.code(problem.status).type('application/problem+json').send(problem);
}

/** Answers an error as a problem, with the headers its kind calls for; logs what is our fault. */
export function sendError(error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const problem = toProblem(error, request);
  if (problem.status >= 500 && !(error instanceof UnavailableError)) {
    request.log.error({ err: error }, 'request failed');
  }
  if (error instanceof UnavailableError) {
    void reply.header('retry-after', String(error.retryAfterSeconds));
  }
  if (error instanceof UnauthorizedError) {
    void reply.header('www-authenticate', 'Bearer');
  }
  return sendProblem(reply, problem);
}

/**
 * How much of a refused request's unread body is read and thrown away before the answer, and for
 * how long: past these, the connection closes under a client still sending.
 */
const UNREAD_BODY_LIMITS = { bytes: 64 * 1024 * 1024, ms: 5000 };

/**
 * Reads what is left of a request's body and throws it away. A refusal answered before the body
 * arrived closes the connection under the client, which then sees a reset instead of the answer.
 */
function discardBody(raw: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    let bytes = 0;
    const finish = () => {
      clearTimeout(timer);
      raw.off('data', count).off('end', finish).off('close', finish).off('error', finish);
      resolve();
    };
    const count = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > UNREAD_BODY_LIMITS.bytes) finish();
    };
    const timer = setTimeout(finish, UNREAD_BODY_LIMITS.ms);
    raw.on('data', count).once('end', finish).once('close', finish).once('error', finish);
    raw.resume();
  });
}

/** Registers the one error handler and the not-found handler of an API. */
export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler(async (error: FastifyError | AppError, request, reply) => {
    if (!request.raw.complete) await discardBody(request.raw);
    // The request's deadline may have answered meanwhile.
    if (reply.sent) return reply;
    return sendError(error, request, reply);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, {
      type: problemType('not-found'),
      title: 'Not found',
      status: 404,
      detail: `No route for ${request.method} ${request.url}`,
      instance: request.url,
    }),
  );
}

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { FastifyInstance } from 'fastify';
import type { Tracing } from '../tracing.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's server span while tracing is on and the route is an API one; else null. */
    span: Span | null;
  }
}

/** What is traced: the API's routes, not health checks, metrics scrapes or the docs. */
const TRACED_ROUTE = /^\/v1\//;

/** Bound to the span, so a trace can be found from a log line and back. */
export const ATTR_CORRELATION_ID = 'moviecatalogue.correlation_id';

/**
 * A server span per API request, named by method and route template, from its arrival (after
 * routing) to its answer, continuing the caller's trace when the request carries a W3C
 * `traceparent`. 5xx answers mark the span as failed; 4xx are the client's (the HTTP semantic
 * conventions' rule for servers). Without tracing only the `span` decoration is added.
 */
export function registerRequestTracing(app: FastifyInstance, tracing: Tracing | undefined): void {
  app.decorateRequest('span', null);
  if (!tracing) return;
  const { tracer } = tracing;

  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (route === undefined || !TRACED_ROUTE.test(route)) return done();
    const caller = tracing.contextIn(request.headers);
    request.span = tracer.startSpan(
      `${request.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: request.method,
          [ATTR_HTTP_ROUTE]: route,
          [ATTR_URL_PATH]: request.url.split('?', 1)[0],
          [ATTR_CORRELATION_ID]: request.id,
        },
      },
      caller ? trace.setSpanContext(ROOT_CONTEXT, caller) : ROOT_CONTEXT,
    );
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    const span = request.span;
    if (span) {
      request.span = null;
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    done();
  });

  // A client that goes away gets no answer, so onResponse does not come.
  app.addHook('onRequestAbort', (request, done) => {
    const span = request.span;
    if (span) {
      request.span = null;
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'client closed the connection before the answer' });
      span.end();
    }
    done();
  });
}

import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, onRequestHookHandler } from 'fastify';
import { newEventId, type EventIdSeal } from '../shared/events/event-id.ts';
import { encodeConsistencyToken } from '../shared/events/position.ts';
import type { EventPublisher } from '../shared/kafka/publisher.ts';
import type { CatalogueEvent, EventEnvelope } from '../shared/events/types.ts';
import { createHttpApp } from '../shared/http/app.ts';
import type { ReadinessCheck } from '../shared/http/ops-routes.ts';
import { registerRequestTracing } from '../shared/http/tracing.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import type { Tracing } from '../shared/tracing.ts';
import { registerAuth, type Principal, type Role } from './auth.ts';
import type { CommandApiConfig } from './config.ts';
import { createAcceptor, type Decision, type KeyedRequest } from './accept.ts';
import { idempotencyKeyOf, requestFingerprint, type IdempotencyStore } from './idempotency.ts';
import { registerOpenApi, ROUTE_SCHEMAS } from './openapi.ts';
import { registerRateLimit } from './rate-limit.ts';
import type { MovieVersions } from './movies/movie-versions.ts';
import { checkExpectedVersion, expectedVersionOf, setMetadata } from './movies/set-metadata.ts';
import { deleteMovieRating } from './ratings/delete-rating.ts';
import { submitProviderRatings } from './ratings/submit-batch.ts';
import { submitMovieRating } from './ratings/submit-rating.ts';

export interface CommandAppDeps {
  config: Pick<CommandApiConfig, 'auth' | 'bodyLimit' | 'rateLimit' | 'requestTimeoutMs'>;
  logger: Logger;
  metrics: Metrics;
  publisher: EventPublisher;
  idempotency: IdempotencyStore;
  movieVersions: MovieVersions;
  /** Vouches for the event ids this API answers, so the query API can tell them from others. */
  eventIdSeal: EventIdSeal;
  readiness: Record<string, ReadinessCheck>;
  /** A span per command, whose context its events carry; none when tracing is off. */
  tracing?: Tracing | undefined;
  /** Injected so tests can pin ids and time. */
  newId?: () => string;
  now?: () => Date;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is acting, set by `requireRole` before the body is read. */
    principal: Principal | null;
  }
}

const principalOf = (request: FastifyRequest): Principal => {
  if (!request.principal) throw new Error('route has no requireRole hook');
  return request.principal;
};

/** Builds the command API without listening, so tests can `inject()` or listen on any port. */
export async function buildCommandApp(deps: CommandAppDeps): Promise<FastifyInstance> {
  const { publisher, metrics } = deps;
  const newId = deps.newId ?? (() => deps.eventIdSeal.seal(newEventId()));
  const now = deps.now ?? (() => new Date());

  const app = createHttpApp({
    logger: deps.logger,
    metrics,
    readiness: deps.readiness,
    bodyLimit: deps.config.bodyLimit,
    handlerTimeoutMs: deps.config.requestTimeoutMs,
    // The work may still finish after the answer: the same words as for an unacknowledged write.
    timeoutDetail:
      'The request did not complete in time; a command may or may not be recorded. A retry with the same Idempotency-Key is safe.',
  });
  registerRequestTracing(app, deps.tracing);
  const authorize = await registerAuth(app, deps.config.auth);
  /**
   * Authenticates and authorizes on arrival, before fastify reads the body: a caller without a
   * valid token gets 401 (not 400 or 413) and costs no parsing.
   */
  const requireRole =
    (role: Role): onRequestHookHandler =>
    async (request) => {
      request.principal = await authorize(request, role);
    };
  /** Route options of a command: who may send it, how often, and its documentation. */
  const commandRoute = (role: Role, schema: FastifySchema) => ({
    onRequest: requireRole(role),
    config: { rateLimit: {} },
    schema,
  });
  app.decorateRequest('principal', null);
  await registerRateLimit(app, deps.config.rateLimit);
  await registerOpenApi(app);

  function envelopesFor(request: FastifyRequest, principal: Principal, count: number): EventEnvelope[] {
    const correlationId = request.id;
    const occurredAt = now();
    return Array.from({ length: count }, () => ({
      eventId: newId(),
      occurredAt,
      principal: principal.subject,
      correlationId,
    }));
  }
  const envelopeFor = (request: FastifyRequest, principal: Principal) => envelopesFor(request, principal, 1)[0]!;

  const accept = createAcceptor({
    publisher,
    idempotency: deps.idempotency,
    metrics,
    logger: deps.logger,
    sealId: deps.eventIdSeal.seal,
  });

  /** The Idempotency-Key and fingerprint of a request, when it carries a key. */
  function keyedRequest(request: FastifyRequest): KeyedRequest | undefined {
    const key = idempotencyKeyOf(request.headers['idempotency-key']);
    return key === undefined
      ? undefined
      : { key, fingerprint: requestFingerprint(request.method, request.url, request.body) };
  }

  async function respond(request: FastifyRequest, reply: FastifyReply, decision: Decision) {
    const keyed = keyedRequest(request);
    const { body, replayed } = await accept(principalOf(request).subject, keyed, decision, request.span?.spanContext());
    if (replayed) void reply.header('idempotent-replayed', 'true');
    return reply.code(202).send(body);
  }

  const single = (event: CatalogueEvent, precondition?: () => Promise<void>): Decision => ({
    events: [event],
    ...(precondition ? { precondition } : {}),
    answer: ([written], [position]) => ({
      eventId: written!.envelope.eventId,
      position: position!,
      consistencyToken: encodeConsistencyToken([position!]),
    }),
  });

  app.post<{ Params: { movieId: string } }>(
    '/v1/movies/:movieId/metadata',
    commandRoute('admin', ROUTE_SCHEMAS.setMetadata),
    async (request, reply) => {
      const expectedVersion = expectedVersionOf(request.headers['if-match']);
      const event = setMetadata(
        request.params.movieId,
        request.body,
        { envelope: envelopeFor(request, principalOf(request)) },
        expectedVersion,
      );
      const precondition =
        expectedVersion === null
          ? undefined
          : async () => checkExpectedVersion(expectedVersion, await deps.movieVersions(event.movieId));
      return respond(request, reply, single(event, precondition));
    },
  );

  app.post<{ Params: { movieId: string } }>(
    '/v1/movies/:movieId/ratings',
    commandRoute('user', ROUTE_SCHEMAS.submitRating),
    async (request, reply) => {
      const event = submitMovieRating(request.params.movieId, request.body, {
        envelope: envelopeFor(request, principalOf(request)),
      });
      return respond(request, reply, single(event));
    },
  );

  app.delete<{ Params: { movieId: string } }>(
    '/v1/movies/:movieId/ratings',
    commandRoute('user', ROUTE_SCHEMAS.deleteRating),
    async (request, reply) => {
      const event = deleteMovieRating(request.params.movieId, { envelope: envelopeFor(request, principalOf(request)) });
      return respond(request, reply, single(event));
    },
  );

  app.post('/v1/ratings/batch', commandRoute('provider', ROUTE_SCHEMAS.submitBatch), async (request, reply) => {
    const events = submitProviderRatings(request.body, (count) => envelopesFor(request, principalOf(request), count));
    return respond(request, reply, {
      events,
      answer: (written, positions) => ({
        eventIds: written.map((e) => e.envelope.eventId),
        positions,
        consistencyToken: encodeConsistencyToken(positions),
      }),
    });
  });

  return app;
}

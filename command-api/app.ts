import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import { UnavailableError } from '../shared/errors.ts';
import { newEventId } from '../shared/events/event-id.ts';
import { EventLogUnavailableError } from '../shared/events/event-log.ts';
import { encodeConsistencyToken, type LogPosition } from '../shared/events/position.ts';
import type { EventPublisher } from '../shared/events/publisher.ts';
import type { CatalogueEvent, EventEnvelope } from '../shared/events/types.ts';
import { createHttpApp } from '../shared/http/app.ts';
import type { ReadinessCheck } from '../shared/http/ops-routes.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { authorize, registerAuth, type Principal, type Role } from './auth.ts';
import type { CommandApiConfig } from './config.ts';
import { setMetadata } from './movies/set-metadata.ts';
import { deleteMovieRating } from './ratings/delete-rating.ts';
import { submitProviderRatings } from './ratings/submit-batch.ts';
import { submitMovieRating } from './ratings/submit-rating.ts';

export interface CommandAppDeps {
  config: Pick<CommandApiConfig, 'jwtSecret' | 'bodyLimit'>;
  logger: Logger;
  metrics: Metrics;
  publisher: EventPublisher;
  readiness: Record<string, ReadinessCheck>;
  /** Injected so tests can pin ids and time. */
  newId?: () => string;
  now?: () => Date;
}

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is acting, set by `requireRole` before the body is read. */
    principal: Principal | null;
  }
}

/**
 * Authenticates and authorizes on arrival, before fastify reads the body: a caller without a
 * valid token gets 401 (not 400 or 413) and costs no parsing.
 */
const requireRole =
  (role: Role): onRequestHookHandler =>
  async (request) => {
    request.principal = await authorize(request, role);
  };

const principalOf = (request: FastifyRequest): Principal => {
  if (!request.principal) throw new Error('route has no requireRole hook');
  return request.principal;
};

/** Builds the command API without listening, so tests can `inject()` or listen on any port. */
export async function buildCommandApp(deps: CommandAppDeps): Promise<FastifyInstance> {
  const { publisher, metrics } = deps;
  const newId = deps.newId ?? (() => newEventId());
  const now = deps.now ?? (() => new Date());

  const app = createHttpApp({ logger: deps.logger, metrics, readiness: deps.readiness, bodyLimit: deps.config.bodyLimit });
  await registerAuth(app, deps.config.jwtSecret);
  app.decorateRequest('principal', null);

  function envelopesFor(request: FastifyRequest, principal: Principal, count: number): EventEnvelope[] {
    const header = request.headers['x-correlation-id'];
    const correlationId = typeof header === 'string' && CORRELATION_ID.test(header) ? header : newId();
    const occurredAt = now();
    return Array.from({ length: count }, () => ({ eventId: newId(), occurredAt, principal: principal.subject, correlationId }));
  }
  const envelopeFor = (request: FastifyRequest, principal: Principal) => envelopesFor(request, principal, 1)[0]!;

  /** Appends the events; answers only once Kafka has acknowledged every one of them. */
  async function append(events: readonly CatalogueEvent[]): Promise<LogPosition[]> {
    try {
      const positions = await publisher.publish(events);
      for (const event of events) metrics.eventsPublished.inc({ event_type: event.type });
      return positions;
    } catch (err) {
      if (!(err instanceof EventLogUnavailableError)) throw err;
      app.log.warn({ err, events: events.length, eventType: events[0]?.type }, 'events not acknowledged by Kafka');
      throw new UnavailableError(
        'The event log did not acknowledge the write in time: it may or may not be recorded.',
        1,
      );
    }
  }

  async function acceptOne(event: CatalogueEvent) {
    const [position] = await append([event]);
    return { eventId: event.envelope.eventId, position: position!, consistencyToken: encodeConsistencyToken([position!]) };
  }

  app.post<{ Params: { movieId: string } }>('/v1/movies/:movieId/metadata', { onRequest: requireRole('admin') }, async (request, reply) => {
    const principal = principalOf(request);
    const event = setMetadata(request.params.movieId, request.body, { envelope: envelopeFor(request, principal) });
    return reply.code(202).send(await acceptOne(event));
  });

  app.post<{ Params: { movieId: string } }>('/v1/movies/:movieId/ratings', { onRequest: requireRole('user') }, async (request, reply) => {
    const principal = principalOf(request);
    const event = submitMovieRating(request.params.movieId, request.body, { envelope: envelopeFor(request, principal) });
    return reply.code(202).send(await acceptOne(event));
  });

  app.delete<{ Params: { movieId: string } }>('/v1/movies/:movieId/ratings', { onRequest: requireRole('user') }, async (request, reply) => {
    const principal = principalOf(request);
    const event = deleteMovieRating(request.params.movieId, { envelope: envelopeFor(request, principal) });
    return reply.code(202).send(await acceptOne(event));
  });

  app.post('/v1/ratings/batch', { onRequest: requireRole('provider') }, async (request, reply) => {
    const principal = principalOf(request);
    const events = submitProviderRatings(request.body, (count) => envelopesFor(request, principal, count));
    const positions = await append(events);
    return reply.code(202).send({ eventIds: events.map((e) => e.envelope.eventId), positions, consistencyToken: encodeConsistencyToken(positions) });
  });

  return app;
}

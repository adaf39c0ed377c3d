import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UnavailableError } from '../shared/errors.ts';
import { newEventId } from '../shared/events/event-id.ts';
import { encodeConsistencyToken } from '../shared/events/position.ts';
import type { EventPublisher } from '../shared/events/publisher.ts';
import type { CatalogueEvent, EventEnvelope } from '../shared/events/types.ts';
import { createHttpApp } from '../shared/http/app.ts';
import type { ReadinessCheck } from '../shared/http/ops-routes.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { authorize, registerAuth, type Principal } from './auth.ts';
import type { CommandApiConfig } from './config.ts';
import { setMetadata } from './movies/set-metadata.ts';
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

/** Builds the command API without listening, so tests can `inject()` or listen on any port. */
export async function buildCommandApp(deps: CommandAppDeps): Promise<FastifyInstance> {
  const { publisher, metrics } = deps;
  const newId = deps.newId ?? (() => newEventId());
  const now = deps.now ?? (() => new Date());

  const app = createHttpApp({ logger: deps.logger, metrics, readiness: deps.readiness, bodyLimit: deps.config.bodyLimit });
  await registerAuth(app, deps.config.jwtSecret);

  function envelopeFor(request: FastifyRequest, principal: Principal): EventEnvelope {
    const header = request.headers['x-correlation-id'];
    const correlationId = typeof header === 'string' && CORRELATION_ID.test(header) ? header : newId();
    return { eventId: newId(), occurredAt: now(), principal: principal.subject, correlationId };
  }

  async function accept(event: CatalogueEvent) {
    let position;
    try {
      position = await publisher.publish(event);
    } catch (err) {
      app.log.warn({ err, eventType: event.type, eventId: event.envelope.eventId }, 'event not acknowledged by Kafka');
      throw new UnavailableError('The event log cannot take the write right now; nothing was recorded.', 1);
    }
    metrics.eventsPublished.inc({ event_type: event.type });
    return { eventId: event.envelope.eventId, position, consistencyToken: encodeConsistencyToken(position) };
  }

  app.post<{ Params: { movieId: string } }>('/v1/movies/:movieId/metadata', async (request, reply) => {
    const principal = await authorize(request, 'admin');
    const event = setMetadata(request.params.movieId, request.body, { envelope: envelopeFor(request, principal) });
    return reply.code(202).send(await accept(event));
  });

  app.post<{ Params: { movieId: string } }>('/v1/movies/:movieId/ratings', async (request, reply) => {
    const principal = await authorize(request, 'user');
    const event = submitMovieRating(request.params.movieId, request.body, { envelope: envelopeFor(request, principal) });
    return reply.code(202).send(await accept(event));
  });

  return app;
}

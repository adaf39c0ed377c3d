import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import type { Pool } from '../shared/db/pool.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import type { EventIdSeal } from '../shared/events/event-id.ts';
import { ID_PATTERN } from '../shared/events/types.ts';
import { createHttpApp } from '../shared/http/app.ts';
import { ifNoneMatchHits } from '../shared/http/etag.ts';
import { registerRequestTracing } from '../shared/http/tracing.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { parseOrThrow } from '../shared/parse.ts';
import type { Tracing } from '../shared/tracing.ts';
import { findOutcomes, MAX_STATUS_IDS, statusOf, type CommandStatus } from './commands/command-status.ts';
import { createBatchedLookup } from './batched-lookup.ts';
import { consistencyRequestOf } from './consistency.ts';
import { decodeCursor, encodeCursor } from './movies/cursor.ts';
import { createDetailsCache } from './movies/details-cache.ts';
import { findMoviesDetails, listMovies } from './movies/movie-details-store.ts';
import { findRatings } from './movies/rating-store.ts';
import type { ProgressWatcher } from './progress.ts';
import { createReader } from './read-model.ts';
import { LIVE } from '../shared/read-models.ts';

const PAGE_SIZE = { default: 20, max: 100 };

/** On a traced read that carried a consistency token: whether it waited its way to `consistent`. */
const ATTR_CONSISTENCY = 'moviecatalogue.consistency';

const listQuerySchema = z.strictObject({
  director: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional(),
  cursor: z.string().max(400, 'is not a cursor of this listing').optional(),
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, `must be a whole number from 1 to ${PAGE_SIZE.max}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= PAGE_SIZE.max, `must be a whole number from 1 to ${PAGE_SIZE.max}`)
    .optional(),
});

const EVENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const EVENT_ID_MESSAGE = 'must be an event id (a UUID) a command answered';

const statusQuerySchema = z.strictObject({
  eventIds: z
    .array(
      z
        .string()
        .regex(EVENT_ID, EVENT_ID_MESSAGE)
        .transform((id) => id.toLowerCase()),
    )
    .min(1, 'must hold at least one event id')
    .max(MAX_STATUS_IDS, `must hold at most ${MAX_STATUS_IDS} event ids`),
});

export interface QueryAppDeps {
  logger: Logger;
  metrics: Metrics;
  pool: Pool;
  progress: ProgressWatcher;
  /** Recognises the event ids the command API answered: their commands are pending until projected. */
  eventIdSeal: EventIdSeal;
  /** A span per read; none when tracing is off. */
  tracing?: Tracing | undefined;
}

/** Movies whose details are kept between reads; past it, the cache starts over. */
const DETAILS_CACHE_ENTRIES = 100_000;
/** The most movies one query of a bunch of reads asks for. */
const LOOKUP_BATCH_KEYS = 500;

/** Builds the query API without listening. It reads the projections only, never Kafka. */
export function buildQueryApp(deps: QueryAppDeps): FastifyInstance {
  const { pool, progress, metrics } = deps;
  const read = createReader(deps.logger);
  const details = createDetailsCache(() => progress.generation, DETAILS_CACHE_ENTRIES);
  const movieDetails = createBatchedLookup((ids) => findMoviesDetails(pool, ids), LOOKUP_BATCH_KEYS);
  const ratings = createBatchedLookup((ids) => findRatings(pool, ids), LOOKUP_BATCH_KEYS);
  const app = createHttpApp({
    logger: deps.logger,
    metrics: deps.metrics,
    readiness: {
      // Ready only once the projections' tables exist, not merely when Postgres answers.
      postgres: async () => {
        await pool.query(`SELECT 1 FROM ${LIVE.movies}, ${LIVE.ratingAggregates} LIMIT 0`);
      },
    },
  });
  registerRequestTracing(app, deps.tracing);

  /**
   * Read-your-writes: a read carrying a command's consistency token waits, bounded, until the
   * projections have applied the command's events; past the bound it answers with what it has
   * and says so. What it then reads is at least as new as what it waited for: the lists and
   * ratings are read from Postgres, the details cache keeps that promise (details-cache.ts).
   */
  const consistent: onRequestAsyncHookHandler = async (request, reply) => {
    const wanted = consistencyRequestOf(request.headers['x-consistency-token'], request.headers['x-consistency-wait']);
    if (!wanted) return;
    const started = performance.now();
    const caughtUp = await progress.waitFor(wanted.positions, wanted.waitMs);
    metrics.consistencyWaits.observe({ outcome: caughtUp ? 'applied' : 'stale' }, (performance.now() - started) / 1000);
    void reply.header('x-consistency', caughtUp ? 'consistent' : 'stale');
    request.span?.setAttribute(ATTR_CONSISTENCY, caughtUp ? 'consistent' : 'stale');
  };

  app.addHook('onReady', () => progress.start());
  app.addHook('onClose', () => progress.stop());

  /** An id no movie can have is the client's mistake (400), not a movie we lack (404). */
  const movieIdOf = (movieId: string) => {
    if (!ID_PATTERN.test(movieId))
      throw new ValidationError([{ field: 'movieId', message: 'must be 1 to 64 letters, digits or ._~-' }]);
    return movieId;
  };

  app.get<{ Params: { movieId: string } }>('/v1/movies/:movieId', { onRequest: consistent }, async (request, reply) => {
    const movieId = movieIdOf(request.params.movieId);
    const found = await details.get(movieId, () => read(() => movieDetails.get(movieId)));
    if (!found) throw new NotFoundError(`No movie ${movieId}.`);
    // Not the bare version: ratings change the answer without moving the metadata version.
    const etag = `"${found.revision}"`;
    void reply.header('etag', etag);
    if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return reply.code(304).send();
    return found.movie;
  });

  app.get<{ Params: { movieId: string } }>('/v1/movies/:movieId/rating', { onRequest: consistent }, async (request) => {
    const movieId = movieIdOf(request.params.movieId);
    const rating = await read(() => ratings.get(movieId));
    if (!rating) throw new NotFoundError(`No movie ${movieId}.`);
    return rating;
  });

  app.get('/v1/movies', { onRequest: consistent }, async (request) => {
    const query = parseOrThrow(listQuerySchema, request.query, '');
    const director = query.director ?? null;
    const after = query.cursor === undefined ? null : decodeCursor(query.cursor, director);
    const limit = query.limit ?? PAGE_SIZE.default;
    const page = await read(() => listMovies(pool, { director, after, limit }));
    const last = page.movies.at(-1);
    return { items: page.movies, nextCursor: page.more && last ? encodeCursor(last.movieId, director) : null };
  });

  app.get<{ Params: { eventId: string } }>('/v1/commands/:eventId', { onRequest: consistent }, async (request) => {
    const eventId = request.params.eventId.toLowerCase();
    if (!EVENT_ID.test(eventId)) throw new ValidationError([{ field: 'eventId', message: EVENT_ID_MESSAGE }]);
    const outcomes = await read(() => findOutcomes(pool, [eventId]));
    const status = statusOf(outcomes.get(eventId), deps.eventIdSeal.verifies(eventId));
    if (status.status === 'unknown') throw new NotFoundError(`No command was accepted with event id ${eventId}.`);
    return { eventId, ...status };
  });

  // A bulk command's events, all at once: a POST, since a thousand ids do not fit in a URL.
  app.post('/v1/commands/status', { onRequest: consistent }, async (request) => {
    const { eventIds } = parseOrThrow(statusQuerySchema, request.body, '');
    const outcomes = await read(() => findOutcomes(pool, eventIds));
    const counts: Record<CommandStatus['status'], number> = {
      pending: 0,
      applied: 0,
      rejected: 0,
      dead_lettered: 0,
      parked: 0,
      unknown: 0,
    };
    const items = eventIds.map((eventId) => {
      const status = statusOf(outcomes.get(eventId), deps.eventIdSeal.verifies(eventId));
      counts[status.status] += 1;
      return { eventId, ...status };
    });
    return { items, counts };
  });

  return app;
}

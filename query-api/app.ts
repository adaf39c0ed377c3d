import type { FastifyInstance } from 'fastify';
import type { Pool } from '../shared/db/pool.ts';
import { NotFoundError } from '../shared/errors.ts';
import { ID_PATTERN } from '../shared/events/types.ts';
import { createHttpApp } from '../shared/http/app.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { ifNoneMatchHits } from '../shared/http/etag.ts';
import { findMovieDetails } from './movies/movie-details-store.ts';

/** Builds the query API without listening. It reads the projections only, never Kafka. */
export function buildQueryApp(deps: { logger: Logger; metrics: Metrics; pool: Pool }): FastifyInstance {
  const { pool } = deps;
  const app = createHttpApp({
    logger: deps.logger,
    metrics: deps.metrics,
    readiness: {
      postgres: async () => {
        await pool.query('SELECT 1');
      },
    },
  });

  app.get<{ Params: { movieId: string } }>('/v1/movies/:movieId', async (request, reply) => {
    const { movieId } = request.params;
    const found = ID_PATTERN.test(movieId) ? await findMovieDetails(pool, movieId) : undefined;
    if (!found) throw new NotFoundError(`No movie ${movieId}.`);
    // Not the bare version: ratings change the answer without moving the metadata version.
    const etag = `"${found.revision}"`;
    void reply.header('etag', etag);
    if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return reply.code(304).send();
    return found.movie;
  });

  return app;
}

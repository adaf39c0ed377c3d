import type { FastifyInstance } from 'fastify';
import type { Pool } from '../shared/db/pool.ts';
import { createHttpApp } from '../shared/http/app.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import type { ProjectorRunner } from './consumer/runner.ts';

/** The projector's admin surface: health and metrics. Closing it stops the consumer first. */
export function buildProjectorAdminApp(deps: {
  logger: Logger;
  metrics: Metrics;
  pool: Pool;
  runner: ProjectorRunner;
}): FastifyInstance {
  const app = createHttpApp({
    logger: deps.logger,
    metrics: deps.metrics,
    readiness: {
      postgres: async () => {
        await deps.pool.query('SELECT 1');
      },
      projector: () => {
        const problem = deps.runner.problem();
        if (problem) throw new Error(problem);
      },
    },
  });
  app.addHook('onClose', async () => {
    await deps.runner.stop();
    await deps.pool.end();
  });
  return app;
}

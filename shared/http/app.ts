import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { registerOpsRoutes, type ReadinessCheck } from './ops-routes.ts';
import { registerProblemHandlers } from './problems.ts';

export interface HttpAppOptions {
  logger: Logger;
  metrics: Metrics;
  readiness: Record<string, ReadinessCheck>;
  bodyLimit?: number;
}

/** A fastify instance with what every service shares: problem details, health and metrics. */
export function createHttpApp({ logger, metrics, readiness, bodyLimit }: HttpAppOptions): FastifyInstance {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; only the generic parameters disagree.
    loggerInstance: logger as FastifyBaseLogger,
    // Per-request info lines cost more than they tell at thousands of requests a second.
    logController: new LogController({ disableRequestLogging: true }),
    ...(bodyLimit ? { bodyLimit } : {}),
  });
  registerProblemHandlers(app);
  registerOpsRoutes(app, metrics, readiness);
  return app;
}

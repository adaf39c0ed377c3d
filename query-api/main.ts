import { createPool } from '../shared/db/pool.ts';
import { createEventIdSeal } from '../shared/events/event-id.ts';
import { createMetrics } from '../shared/metrics.ts';
import { runService } from '../shared/service.ts';
import { buildQueryApp } from './app.ts';
import { loadQueryApiConfig } from './config.ts';
import { createProgressWatcher } from './progress.ts';

/** How long a read waits for a connection, from the pool or the server, before answering 503. */
const QUERY_CONNECT_TIMEOUT_MS = 1000;

await runService('query-api', loadQueryApiConfig, (config, logger, tracing) => {
  // A read that takes longer than a few tens of ms is a sick database: fail fast, answer 503.
  const pool = createPool(config.readsUrl, config.poolSize, logger, {
    statementTimeoutMs: config.statementTimeoutMs,
    connectTimeoutMs: QUERY_CONNECT_TIMEOUT_MS,
  });
  const progress = createProgressWatcher(pool, config.databaseUrl, logger, { standby: config.readsFromStandby });
  const app = buildQueryApp({
    logger,
    metrics: createMetrics('query-api'),
    pool,
    progress,
    eventIdSeal: createEventIdSeal(config.eventIdSecret),
    tracing,
  });
  app.addHook('onClose', () => pool.end());
  return app;
});

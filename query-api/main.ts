import { createPool } from '../shared/db/pool.ts';
import { createMetrics } from '../shared/metrics.ts';
import { runService } from '../shared/service.ts';
import { buildQueryApp } from './app.ts';
import { loadQueryApiConfig } from './config.ts';

await runService('query-api', loadQueryApiConfig, (config, logger) => {
  const pool = createPool(config.databaseUrl, config.poolSize, logger);
  const app = buildQueryApp({ logger, metrics: createMetrics('query-api'), pool });
  app.addHook('onClose', () => pool.end());
  return app;
});

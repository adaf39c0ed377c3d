import { createPool } from '../shared/db/pool.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { createMetrics } from '../shared/metrics.ts';
import { runService } from '../shared/service.ts';
import { buildProjectorAdminApp } from './admin-app.ts';
import { loadProjectorConfig } from './config.ts';
import { migrate } from '../shared/db/migrate.ts';
import { createCatalogueProjector } from './projector.ts';
import { whenAvailable } from '../shared/startup.ts';

await runService('projectors', loadProjectorConfig, async (config, logger, tracing) => {
  await whenAvailable('Postgres', () => migrate(config.databaseUrl, logger), logger);
  const pool = createPool(config.databaseUrl, config.poolSize, logger);
  const metrics = createMetrics('projectors');
  const runner = createCatalogueProjector({
    ...config,
    kafka: createKafka('projectors', config.kafka, logger),
    pool,
    logger,
    metrics,
    tracing,
    // kafkajs gave up on the consumer: a live process consuming nothing helps nobody; exit and be restarted.
    onFatal: (err) => {
      logger.fatal({ err }, 'consumer stopped for good; exiting');
      process.exit(1);
    },
  });
  await runner.start();
  return buildProjectorAdminApp({ logger, metrics, pool, runner });
});

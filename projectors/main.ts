import { createPool } from '../shared/db/pool.ts';
import { EventCodec } from '../shared/events/codec.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { createMetrics } from '../shared/metrics.ts';
import { runService } from '../shared/service.ts';
import { buildProjectorAdminApp } from './admin-app.ts';
import { loadProjectorConfig } from './config.ts';
import { migrate } from './migrate.ts';
import { catalogueProjections } from './projections.ts';
import { createProjectorRunner } from './runner.ts';

await runService('projectors', loadProjectorConfig, async (config, logger) => {
  await migrate(config.databaseUrl, logger);
  const pool = createPool(config.databaseUrl, config.poolSize, logger);
  const metrics = createMetrics('projectors');
  const runner = createProjectorRunner({
    kafka: createKafka('projectors', config.kafkaBrokers, logger),
    groupId: config.groupId,
    pool,
    codec: EventCodec.forReading(EventCodec.connect(config.registryUrl)),
    projections: catalogueProjections(config.topics),
    logger,
    metrics,
  });
  await runner.start();
  return buildProjectorAdminApp({ logger, metrics, pool, runner });
});

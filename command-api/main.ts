import { migrate } from '../shared/db/migrate.ts';
import { createPool } from '../shared/db/pool.ts';
import { createEventIdSeal } from '../shared/events/event-id.ts';
import { createEventPublisher } from '../shared/kafka/publisher.ts';
import { EventCodec } from '../shared/kafka/codec.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { createMetrics } from '../shared/metrics.ts';
import { runService } from '../shared/service.ts';
import { buildCommandApp } from './app.ts';
import { loadCommandApiConfig } from './config.ts';
import { createIdempotencyStore } from './idempotency-store.ts';
import { createMovieVersions } from './movies/movie-versions.ts';
import { registryClient } from '../shared/registry.ts';
import { LIVE } from '../shared/read-models.ts';
import { whenAvailable } from '../shared/startup.ts';

/** Expired idempotency keys are deleted this often, by every instance (a bounded batch each time). */
const SWEEP_INTERVAL_MS = 60_000;

await runService('command-api', loadCommandApiConfig, async (config, logger, tracing) => {
  await whenAvailable('Postgres', () => migrate(config.databaseUrl, logger), logger);
  const pool = createPool(config.databaseUrl, config.poolSize, logger, {
    statementTimeoutMs: config.dbTimeoutMs,
    connectTimeoutMs: config.dbTimeoutMs,
  });
  const idempotency = createIdempotencyStore(pool, config.idempotencyTtlSeconds, logger);
  const sweeper = setInterval(
    () => void idempotency.sweep().catch((err: unknown) => logger.warn({ err }, 'expired idempotency keys not swept')),
    SWEEP_INTERVAL_MS,
  );
  sweeper.unref();

  const kafka = createKafka('command-api', config.kafka, logger);
  const registry = registryClient(config.registry);
  const codec = await whenAvailable(
    'the schema registry',
    () => EventCodec.forWriting(registry, config.topics),
    logger,
  );
  const metrics = createMetrics('command-api');
  const publisher = createEventPublisher(
    kafka,
    codec,
    logger,
    { ackTimeoutMs: config.ackTimeoutMs, lingerMs: config.lingerMs, maxBatchEvents: config.maxBatchEvents },
    metrics,
    tracing,
  );
  await whenAvailable('Kafka', () => publisher.connect(), logger);
  const admin = kafka.admin();
  await whenAvailable('Kafka', () => admin.connect(), logger);

  const app = await buildCommandApp({
    config,
    logger,
    metrics,
    publisher,
    idempotency,
    movieVersions: createMovieVersions(pool, logger),
    eventIdSeal: createEventIdSeal(config.eventIdSecret),
    tracing,
    readiness: {
      kafka: async () => {
        await admin.fetchTopicMetadata({ topics: [config.topics.movieMetadata, config.topics.movieRatings] });
      },
      postgres: async () => {
        await pool.query(`SELECT 1 FROM ${LIVE.idempotencyKeys} LIMIT 0`);
      },
    },
  });
  app.addHook('onClose', async () => {
    clearInterval(sweeper);
    await publisher.disconnect();
    await admin.disconnect();
    await pool.end();
  });
  return app;
});

import type { FastifyInstance } from 'fastify';
import { buildCommandApp } from '../../command-api/app.ts';
import { mintToken } from '../../command-api/mint-token.ts';
import { buildQueryApp } from '../../query-api/app.ts';
import { createPool } from '../../shared/db/pool.ts';
import { EventCodec } from '../../shared/events/codec.ts';
import { createEventPublisher } from '../../shared/events/publisher.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { createTestDatabase, createTestTopics, quietLogger, services, startTestProjector } from './services.ts';

const JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256';

/**
 * The three services wired as their main.ts files wire them, in this process, against the real
 * Kafka, registry and Postgres, on fresh topics, a fresh consumer group and a fresh database.
 */
export async function startSystem() {
  const logger = quietLogger();
  const [db, topics] = await Promise.all([createTestDatabase(), createTestTopics()]);
  const kafka = createKafka('test', services.brokers, logger);
  const registry = EventCodec.connect(services.registryUrl);

  const pool = createPool(db.url, 5, logger);
  const runner = await startTestProjector({ kafka, pool, topics });

  const publisher = createEventPublisher(kafka, await EventCodec.forWriting(registry, topics), logger);
  await publisher.connect();
  const commandApp = await buildCommandApp({
    config: { jwtSecret: JWT_SECRET, bodyLimit: 1024 * 1024 },
    logger,
    metrics: createMetrics('command-api'),
    publisher,
    readiness: {},
  });
  const queryApp = buildQueryApp({ logger, metrics: createMetrics('query-api'), pool });
  const listen = async (app: FastifyInstance) => app.listen({ host: '127.0.0.1', port: 0 });

  return {
    commandUrl: await listen(commandApp),
    queryUrl: await listen(queryApp),
    pool,
    token: (sub: string, roles: string[]) => mintToken(JWT_SECRET, { sub, roles }, 600),
    async stop() {
      await Promise.all([commandApp.close(), queryApp.close()]);
      await publisher.disconnect();
      await runner.stop();
      await pool.end();
      await Promise.all([db.drop(), topics.remove()]);
    },
  };
}

import type { FastifyInstance } from 'fastify';
import type { Kafka } from 'kafkajs';
import { buildCommandApp } from '../../command-api/app.ts';
import type { IdempotencyStore } from '../../command-api/idempotency.ts';
import { createIdempotencyStore } from '../../command-api/idempotency-store.ts';
import type { RateLimitConfig } from '../../command-api/rate-limit.ts';
import { mintToken } from '../../command-api/mint-token.ts';
import { createMovieVersions } from '../../command-api/movies/movie-versions.ts';
import { buildQueryApp } from '../../query-api/app.ts';
import { createProgressWatcher } from '../../query-api/progress.ts';
import { createPool } from '../../shared/db/pool.ts';
import { DEFAULTS } from '../../shared/defaults.ts';
import { EventCodec } from '../../shared/kafka/codec.ts';
import { createEventIdSeal } from '../../shared/events/event-id.ts';
import { createEventPublisher, type EventPublisher } from '../../shared/kafka/publisher.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { createMetrics } from '../../shared/metrics.ts';
import type { Tracing } from '../../shared/tracing.ts';
import {
  createTestDatabase,
  createTestTopics,
  quietLogger,
  services,
  startTestProjector,
} from '../../harness/services.ts';
import { registryClient } from '../../shared/registry.ts';

/** The secret the system's command API checks tokens with, for tests that forge their own. */
export const JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256';
const eventIdSeal = createEventIdSeal('test-event-id-secret-that-is-long-enough');

export interface CommandInstanceOptions {
  /** Replaces the instance's idempotency store, to stage a crash in its bookkeeping. */
  idempotency?: (store: IdempotencyStore) => IdempotencyStore;
  rateLimit?: RateLimitConfig;
  /** The Kafka client its producer uses (one behind a proxy, say); the system's by default. */
  kafka?: Kafka;
  ackTimeoutMs?: number;
}

/** Each service's tracing, as its main.ts would start it; none by default. */
export interface SystemTracing {
  commandApi?: Tracing;
  queryApi?: Tracing;
  projectors?: Tracing;
}

/**
 * The three services wired as their main.ts files wire them, in this process, against the real
 * Kafka, registry and Postgres, on fresh topics, a fresh consumer group and a fresh database.
 * `startCommandApi` adds command-api instances sharing them, as several processes would.
 */
export async function startSystem({
  projector = true,
  tracing = {},
}: { projector?: boolean; tracing?: SystemTracing } = {}) {
  const logger = quietLogger();
  const [db, topics] = await Promise.all([createTestDatabase(), createTestTopics()]);
  const kafka = createKafka('test', services.kafka, logger);
  const codec = await EventCodec.forWriting(registryClient(services.registry), topics);

  const pool = createPool(db.url, 5, logger);
  const runner = projector ? await startTestProjector({ kafka, pool, topics, tracing: tracing.projectors }) : undefined;
  const apps: FastifyInstance[] = [];
  const publishers: EventPublisher[] = [];
  const listen = async (app: FastifyInstance) => {
    apps.push(app);
    return app.listen({ host: '127.0.0.1', port: 0 });
  };

  /** One more command-api instance (its own producer, the shared database); answers its URL. */
  async function startCommandApi(options: CommandInstanceOptions = {}): Promise<string> {
    const publisher = createEventPublisher(
      options.kafka ?? kafka,
      codec,
      logger,
      {
        ackTimeoutMs: options.ackTimeoutMs ?? DEFAULTS.KAFKA_ACK_TIMEOUT_MS,
        lingerMs: DEFAULTS.KAFKA_LINGER_MS,
        maxBatchEvents: DEFAULTS.KAFKA_MAX_BATCH_EVENTS,
      },
      undefined,
      tracing.commandApi,
    );
    publishers.push(publisher);
    await publisher.connect();
    const store = createIdempotencyStore(pool, 3600, logger);
    const app = await buildCommandApp({
      config: {
        auth: { kind: 'secret', secret: JWT_SECRET },
        bodyLimit: 1024 * 1024,
        rateLimit: options.rateLimit ?? { max: 100_000, windowMs: 1000 },
        requestTimeoutMs: 10_000,
      },
      logger,
      metrics: createMetrics('command-api'),
      publisher,
      idempotency: options.idempotency?.(store) ?? store,
      movieVersions: createMovieVersions(pool, logger),
      eventIdSeal,
      readiness: {},
      tracing: tracing.commandApi,
    });
    return listen(app);
  }

  return {
    commandUrl: await startCommandApi(),
    queryUrl: await listen(
      buildQueryApp({
        logger,
        metrics: createMetrics('query-api'),
        pool,
        progress: createProgressWatcher(pool, db.url, logger),
        eventIdSeal,
        tracing: tracing.queryApi,
      }),
    ),
    startCommandApi,
    pool,
    kafka,
    topics,
    token: (sub: string, roles: string[]) => mintToken(JWT_SECRET, { sub, roles }, 600),
    async stop() {
      await Promise.all(apps.map((app) => app.close()));
      await Promise.all(publishers.map((p) => p.disconnect()));
      await runner?.stop();
      await pool.end();
      await Promise.all([db.drop(), topics.remove()]);
    },
  };
}

export type TestSystem = Awaited<ReturnType<typeof startSystem>>;

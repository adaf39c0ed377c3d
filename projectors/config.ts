import { z } from 'zod';
import { DEFAULTS } from '../shared/defaults.ts';
import {
  checkConnections,
  commonEnv,
  databaseEnv,
  deadLetterTopicsFrom,
  kafkaConnectionFrom,
  loadConfig,
  port,
  registryConnectionFrom,
  topicsFrom,
  tracingEnv,
  tracingFrom,
} from '../shared/config.ts';

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

const schema = z
  .object({
    ...commonEnv,
    ...databaseEnv,
    ...tracingEnv,
    PROJECTOR_PORT: port(DEFAULTS.PROJECTOR_PORT),
    PROJECTOR_GROUP_ID: z.string().min(1).default(DEFAULTS.PROJECTOR_GROUP_ID),
    // The broker's default group.min.session.timeout.ms is 6 s: the fastest a killed member is noticed.
    PROJECTOR_SESSION_TIMEOUT_MS: int(6000, 300_000, 6000),
    PROJECTOR_HEARTBEAT_INTERVAL_MS: int(100, 10_000, 1000),
    // A few transactions at once keep Postgres busy while the projector decodes; more only queue for the same cores.
    PROJECTOR_CONCURRENCY: int(1, 64, 3),
    PROJECTOR_MAX_BYTES_PER_PARTITION: int(64 * 1024, 64 * 1024 * 1024, 4 * 1024 * 1024),
  })
  .superRefine(checkConnections)
  .refine((env) => env.PROJECTOR_HEARTBEAT_INTERVAL_MS * 3 <= env.PROJECTOR_SESSION_TIMEOUT_MS, {
    message: 'must be at most a third of PROJECTOR_SESSION_TIMEOUT_MS',
    path: ['PROJECTOR_HEARTBEAT_INTERVAL_MS'],
  })
  .transform((env) => ({
    logLevel: env.LOG_LEVEL,
    host: env.HOST,
    port: env.PROJECTOR_PORT,
    kafka: kafkaConnectionFrom(env),
    registry: registryConnectionFrom(env),
    databaseUrl: env.DATABASE_URL,
    poolSize: env.DATABASE_POOL_SIZE,
    groupId: env.PROJECTOR_GROUP_ID,
    topics: topicsFrom(env),
    deadLetterTopics: deadLetterTopicsFrom(env),
    tuning: {
      sessionTimeoutMs: env.PROJECTOR_SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: env.PROJECTOR_HEARTBEAT_INTERVAL_MS,
      partitionsConsumedConcurrently: env.PROJECTOR_CONCURRENCY,
      maxBytesPerPartition: env.PROJECTOR_MAX_BYTES_PER_PARTITION,
    },
    tracing: tracingFrom(env),
  }));

export type ProjectorConfig = z.infer<typeof schema>;

export const loadProjectorConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(schema, env);

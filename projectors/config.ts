import { z } from 'zod';
import { DEFAULTS } from '../shared/defaults.ts';
import { commonEnv, databaseEnv, loadConfig, port, topicsFrom } from '../shared/config.ts';

const schema = z
  .object({
    ...commonEnv,
    ...databaseEnv,
    PROJECTOR_PORT: port(DEFAULTS.PROJECTOR_PORT),
    PROJECTOR_GROUP_ID: z.string().min(1).default('movie-catalogue-projectors'),
  })
  .transform((env) => ({
    logLevel: env.LOG_LEVEL,
    host: env.HOST,
    port: env.PROJECTOR_PORT,
    kafkaBrokers: env.KAFKA_BROKERS,
    registryUrl: env.SCHEMA_REGISTRY_URL,
    databaseUrl: env.DATABASE_URL,
    poolSize: env.DATABASE_POOL_SIZE,
    groupId: env.PROJECTOR_GROUP_ID,
    topics: topicsFrom(env),
  }));

export type ProjectorConfig = z.infer<typeof schema>;

export const loadProjectorConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(schema, env);

import { z } from 'zod';
import { DEFAULTS } from '../shared/defaults.ts';
import {
  commonEnv,
  databaseEnv,
  eventIdSecretEnv,
  loadConfig,
  port,
  queryDatabaseUrl,
  tracingEnv,
  tracingFrom,
} from '../shared/config.ts';

const schema = z
  .object({
    LOG_LEVEL: commonEnv.LOG_LEVEL,
    HOST: commonEnv.HOST,
    ...databaseEnv,
    ...eventIdSecretEnv,
    ...tracingEnv,
    QUERY_DATABASE_URL: queryDatabaseUrl,
    QUERY_API_PORT: port(DEFAULTS.QUERY_API_PORT),
    QUERY_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(1).max(30_000).default(DEFAULTS.QUERY_STATEMENT_TIMEOUT_MS),
  })
  .transform((env) => ({
    logLevel: env.LOG_LEVEL,
    host: env.HOST,
    port: env.QUERY_API_PORT,
    databaseUrl: env.DATABASE_URL,
    /** Where reads go: a hot standby, or the primary (DATABASE_URL, where progress is heard either way). */
    readsUrl: env.QUERY_DATABASE_URL ?? env.DATABASE_URL,
    readsFromStandby: env.QUERY_DATABASE_URL !== undefined,
    poolSize: env.DATABASE_POOL_SIZE,
    statementTimeoutMs: env.QUERY_STATEMENT_TIMEOUT_MS,
    eventIdSecret: env.EVENT_ID_SECRET,
    tracing: tracingFrom(env),
  }));

export type QueryApiConfig = z.infer<typeof schema>;

export const loadQueryApiConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(schema, env);

import { createPublicKey } from 'node:crypto';
import { z } from 'zod';
import type { AuthConfig } from './auth.ts';
import { DEFAULTS } from '../shared/defaults.ts';
import {
  checkConnections,
  commonEnv,
  databaseEnv,
  eventIdSecretEnv,
  kafkaConnectionFrom,
  loadConfig,
  port,
  registryConnectionFrom,
  topicsFrom,
  tracingEnv,
  tracingFrom,
} from '../shared/config.ts';

const schema = z
  .object({
    ...commonEnv,
    ...databaseEnv,
    ...eventIdSecretEnv,
    ...tracingEnv,
    COMMAND_API_PORT: port(DEFAULTS.COMMAND_API_PORT),
    JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    JWT_PUBLIC_KEY: z.string().optional(),
    JWT_JWKS_URL: z.url({ protocol: /^https?$/, message: 'must be an http or https URL' }).optional(),
    JWT_ALGORITHM: z.enum(['RS256', 'ES256']).default('RS256'),
    JWT_ISSUER: z.string().min(1).optional(),
    JWT_AUDIENCE: z.string().min(1).optional(),
    BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024),
    KAFKA_ACK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(DEFAULTS.KAFKA_ACK_TIMEOUT_MS),
    KAFKA_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(DEFAULTS.KAFKA_LINGER_MS),
    KAFKA_MAX_BATCH_EVENTS: z.coerce.number().int().min(1000).max(100_000).default(DEFAULTS.KAFKA_MAX_BATCH_EVENTS),
    IDEMPOTENCY_KEY_TTL_HOURS: z.coerce
      .number()
      .min(0.01)
      .max(24 * 30)
      .default(DEFAULTS.IDEMPOTENCY_KEY_TTL_HOURS),
    RATE_LIMIT_MAX: z.coerce.number().int().min(1).default(DEFAULTS.RATE_LIMIT_MAX),
    RATE_LIMIT_WINDOW_MS: z.coerce.number().int().min(100).max(3_600_000).default(DEFAULTS.RATE_LIMIT_WINDOW_MS),
    REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(DEFAULTS.REQUEST_TIMEOUT_MS),
    COMMAND_DB_TIMEOUT_MS: z.coerce.number().int().min(10).max(30_000).default(DEFAULTS.COMMAND_DB_TIMEOUT_MS),
  })
  .refine((env) => [env.JWT_SECRET, env.JWT_PUBLIC_KEY, env.JWT_JWKS_URL].filter(Boolean).length === 1, {
    path: ['JWT_SECRET'],
    message:
      'exactly one of JWT_SECRET (HS256), JWT_PUBLIC_KEY (PEM) or JWT_JWKS_URL is required, to check command tokens',
    // Checked even when other settings are wrong too, so that every problem is named at once.
    when: (payload) => typeof payload.value === 'object' && payload.value !== null,
  })
  .superRefine(checkConnections)
  .refine((env) => !env.JWT_PUBLIC_KEY || publicKeyFits(env.JWT_PUBLIC_KEY, env.JWT_ALGORITHM), {
    path: ['JWT_PUBLIC_KEY'],
    message: 'must be a PEM public key of the type JWT_ALGORITHM names (RSA for RS256, P-256 EC for ES256)',
  })
  .refine((env) => env.REQUEST_TIMEOUT_MS > env.KAFKA_ACK_TIMEOUT_MS + env.COMMAND_DB_TIMEOUT_MS, {
    path: ['REQUEST_TIMEOUT_MS'],
    message:
      'must be longer than KAFKA_ACK_TIMEOUT_MS plus COMMAND_DB_TIMEOUT_MS, so that a command fails for its own reason first',
  })
  .transform((env) => ({
    logLevel: env.LOG_LEVEL,
    host: env.HOST,
    port: env.COMMAND_API_PORT,
    auth: authFrom(env),
    eventIdSecret: env.EVENT_ID_SECRET,
    bodyLimit: env.BODY_LIMIT_BYTES,
    requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
    ackTimeoutMs: env.KAFKA_ACK_TIMEOUT_MS,
    lingerMs: env.KAFKA_LINGER_MS,
    maxBatchEvents: env.KAFKA_MAX_BATCH_EVENTS,
    kafka: kafkaConnectionFrom(env),
    registry: registryConnectionFrom(env),
    topics: topicsFrom(env),
    databaseUrl: env.DATABASE_URL,
    poolSize: env.DATABASE_POOL_SIZE,
    idempotencyTtlSeconds: Math.round(env.IDEMPOTENCY_KEY_TTL_HOURS * 3600),
    dbTimeoutMs: env.COMMAND_DB_TIMEOUT_MS,
    rateLimit: { max: env.RATE_LIMIT_MAX, windowMs: env.RATE_LIMIT_WINDOW_MS },
    tracing: tracingFrom(env),
  }));

function publicKeyFits(pem: string, algorithm: 'RS256' | 'ES256'): boolean {
  try {
    const key = createPublicKey(pem);
    return algorithm === 'RS256'
      ? key.asymmetricKeyType === 'rsa'
      : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  } catch {
    return false;
  }
}

function authFrom(env: {
  JWT_SECRET?: string | undefined;
  JWT_PUBLIC_KEY?: string | undefined;
  JWT_JWKS_URL?: string | undefined;
  JWT_ALGORITHM: 'RS256' | 'ES256';
  JWT_ISSUER?: string | undefined;
  JWT_AUDIENCE?: string | undefined;
}): AuthConfig {
  const claims = { issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE };
  if (env.JWT_SECRET) return { kind: 'secret', secret: env.JWT_SECRET, ...claims };
  if (env.JWT_PUBLIC_KEY)
    return { kind: 'public-key', algorithm: env.JWT_ALGORITHM, publicKey: env.JWT_PUBLIC_KEY, ...claims };
  return { kind: 'jwks', algorithm: env.JWT_ALGORITHM, jwksUrl: env.JWT_JWKS_URL!, ...claims };
}

export type CommandApiConfig = z.infer<typeof schema>;

export const loadCommandApiConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(schema, env);

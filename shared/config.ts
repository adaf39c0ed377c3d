import { z } from 'zod';
import { DEFAULTS } from './defaults.ts';
import type { TracingConfig } from './tracing.ts';

/** Thrown at boot when the environment does not describe a runnable process. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment against a schema, failing with every offending setting named. */
export function loadConfig<T>(schema: z.ZodType<T>, env: NodeJS.ProcessEnv = process.env): T {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
}

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

function isUrl(value: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

const url = (fallback: string, protocols: string[]) =>
  z
    .string()
    .default(fallback)
    .refine((value) => isUrl(value, protocols), `must be a ${protocols.join(' or ')} URL`);

/** A URL that may be left out; set to nothing (`VAR=`), it counts as left out. */
const optionalUrl = (protocols: string[]) =>
  z
    .string()
    .optional()
    .transform((value) => value?.trim() || undefined)
    .refine((value) => value === undefined || isUrl(value, protocols), `must be a ${protocols.join(' or ')} URL`);

const brokers = z
  .string()
  .default(DEFAULTS.KAFKA_BROKERS)
  .transform((value) => value.split(',').map((broker) => broker.trim()).filter(Boolean))
  .refine((list) => list.length > 0 && list.every((b) => /^[^:\s]+:\d{1,5}$/.test(b)), 'must be host:port[,host:port...]');

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
const topicName = (fallback: string) => z.string().default(fallback).refine((v) => TOPIC_NAME.test(v), 'must be a valid Kafka topic name');
/**
 * A dead-letter topic: `<source topic>.dlq` unless set. Set but empty counts as unset, as
 * docker-compose's kafka-init reads it (`${VAR:-default}`), so that both name the same topic.
 */
const deadLetterTopicName = z.preprocess((v) => (v === '' ? undefined : v), z.string().refine((v) => TOPIC_NAME.test(v), 'must be a valid Kafka topic name').optional());

/** Settings every process shares; each process extends this with its own. */
export const commonEnv = {
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default(DEFAULTS.LOG_LEVEL),
  HOST: z.string().min(1).default(DEFAULTS.HOST),
  KAFKA_BROKERS: brokers,
  SCHEMA_REGISTRY_URL: url(DEFAULTS.SCHEMA_REGISTRY_URL, ['http:', 'https:']),
  TOPIC_MOVIE_METADATA: topicName(DEFAULTS.TOPIC_MOVIE_METADATA),
  TOPIC_MOVIE_RATINGS: topicName(DEFAULTS.TOPIC_MOVIE_RATINGS),
  TOPIC_MOVIE_METADATA_DLQ: deadLetterTopicName,
  TOPIC_MOVIE_RATINGS_DLQ: deadLetterTopicName,
};

export const databaseEnv = {
  DATABASE_URL: url(DEFAULTS.DATABASE_URL, ['postgres:', 'postgresql:']),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(10),
};

/** Shared by the command and query APIs: ids sealed by one are recognised by the other. */
export const eventIdSecretEnv = {
  EVENT_ID_SECRET: z
    .string({ message: 'is required (shared by the command and query APIs, which vouch for event ids with it)' })
    .min(32, 'must be at least 32 characters'),
};

export const partitionsEnv = {
  TOPIC_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(DEFAULTS.TOPIC_PARTITIONS),
};

/**
 * OpenTelemetry's own variables, as its SDKs read them: traces are exported only when an OTLP
 * endpoint is set (and OTEL_SDK_DISABLED is not `true`); tracing is off otherwise.
 */
export const tracingEnv = {
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl(['http:', 'https:']),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl(['http:', 'https:']),
  OTEL_SDK_DISABLED: z.string().optional(),
};

/**
 * Where traces go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else OTEL_EXPORTER_OTLP_ENDPOINT
 * plus `v1/traces` (the OTLP/HTTP rule); undefined when neither is set or the SDK is disabled.
 */
export function tracingFrom(env: { OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined; OTEL_SDK_DISABLED?: string | undefined }): TracingConfig | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return { tracesUrl: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT };
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) return { tracesUrl: `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` };
  return undefined;
}

export { port };

export interface Topics {
  movieMetadata: string;
  movieRatings: string;
}

export function topicsFrom(env: { TOPIC_MOVIE_METADATA: string; TOPIC_MOVIE_RATINGS: string }): Topics {
  return { movieMetadata: env.TOPIC_MOVIE_METADATA, movieRatings: env.TOPIC_MOVIE_RATINGS };
}

/** The dead-letter topic of each source topic, by source topic name. */
export type DeadLetterTopics = ReadonlyMap<string, string>;

export function deadLetterTopicsFrom(env: {
  TOPIC_MOVIE_METADATA: string;
  TOPIC_MOVIE_RATINGS: string;
  TOPIC_MOVIE_METADATA_DLQ?: string | undefined;
  TOPIC_MOVIE_RATINGS_DLQ?: string | undefined;
}): DeadLetterTopics {
  return new Map([
    [env.TOPIC_MOVIE_METADATA, env.TOPIC_MOVIE_METADATA_DLQ ?? `${env.TOPIC_MOVIE_METADATA}${DEFAULTS.DEAD_LETTER_SUFFIX}`],
    [env.TOPIC_MOVIE_RATINGS, env.TOPIC_MOVIE_RATINGS_DLQ ?? `${env.TOPIC_MOVIE_RATINGS}${DEFAULTS.DEAD_LETTER_SUFFIX}`],
  ]);
}

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { databaseUrlProblem } from './db/connection.ts';
import { DEFAULTS } from './defaults.ts';
import { CatalogueError } from './errors.ts';
import type { KafkaConnection } from './kafka/client.ts';
import type { RegistryConnection } from './registry.ts';
import type { TracingConfig } from './tracing.ts';

/** Thrown at boot when the environment does not describe a runnable process. */
export class ConfigError extends CatalogueError {}

/**
 * The settings that may hold a secret. Each can instead be read from a file named by the same
 * variable with `_FILE` appended, as Kubernetes and Docker mount secrets.
 */
export const SECRET_SETTINGS = [
  'JWT_SECRET',
  'EVENT_ID_SECRET',
  'KAFKA_SASL_PASSWORD',
  'SCHEMA_REGISTRY_PASSWORD',
  'DATABASE_URL',
  'QUERY_DATABASE_URL',
] as const;

/**
 * Parses the environment against a schema, failing with every offending setting named. Messages
 * name settings and files, never a value, so that no secret reaches a terminal or a log.
 */
export function loadConfig<T>(schema: z.ZodType<T>, env: NodeJS.ProcessEnv = process.env): T {
  const { values, problems } = withSecretFiles(env);
  const result = schema.safeParse(values);
  const lines = [
    ...problems,
    ...(result.success
      ? []
      : result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)),
  ];
  if (lines.length === 0 && result.success) return result.data;
  throw new ConfigError(`Invalid configuration:\n${lines.map((line) => `  ${line}`).join('\n')}`);
}

/** The environment with each `<SECRET>_FILE` read into `<SECRET>`; one trailing newline is dropped, as editors add it. */
function withSecretFiles(env: NodeJS.ProcessEnv): { values: NodeJS.ProcessEnv; problems: string[] } {
  const values = { ...env };
  const problems: string[] = [];
  for (const name of SECRET_SETTINGS) {
    const file = env[`${name}_FILE`];
    if (file === undefined || file === '') continue;
    if (env[name] !== undefined && env[name] !== '') {
      problems.push(`${name}_FILE: set together with ${name}; set one of them`);
      continue;
    }
    const text = readable(file);
    if (typeof text === 'string') values[name] = text.replace(/\r?\n$/, '');
    else problems.push(`${name}_FILE: ${text.problem}`);
  }
  return { values, problems };
}

function readable(file: string): string | { problem: string } {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    return { problem: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
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
  .transform((value) =>
    value
      .split(',')
      .map((broker) => broker.trim())
      .filter(Boolean),
  )
  .refine(
    (list) => list.length > 0 && list.every((b) => /^[^:\s]+:\d{1,5}$/.test(b)),
    'must be host:port[,host:port...]',
  );

/** A file the process reads at start (a CA, a client certificate or key): its path, read into its text. */
const pemFile = z
  .string()
  .optional()
  .transform((file, ctx) => {
    if (file === undefined || file.trim() === '') return undefined;
    const text = readable(file);
    if (typeof text !== 'string') {
      ctx.addIssue({ code: 'custom', message: text.problem });
      return z.NEVER;
    }
    if (!text.includes('-----BEGIN ')) {
      ctx.addIssue({ code: 'custom', message: `${file} is not a PEM file` });
      return z.NEVER;
    }
    return text;
  });

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value));

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
const topicName = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((v) => TOPIC_NAME.test(v), 'must be a valid Kafka topic name');
/**
 * A dead-letter topic: `<source topic>.dlq` unless set. Set but empty counts as unset: an `.env`
 * line `TOPIC_MOVIE_RATINGS_DLQ=` reaches docker-compose.yml's containers as ''.
 */
const deadLetterTopicName = z.preprocess(
  (v) => (v === '' ? undefined : v),
  z
    .string()
    .refine((v) => TOPIC_NAME.test(v), 'must be a valid Kafka topic name')
    .optional(),
);

const KAFKA_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

/**
 * How to reach Kafka, as a managed cluster asks: the security protocol, SASL credentials and
 * the TLS files (a CA for the brokers' certificates; a client certificate and key for mutual TLS).
 */
export const kafkaEnv = {
  KAFKA_BROKERS: brokers,
  KAFKA_SECURITY_PROTOCOL: z.enum(KAFKA_PROTOCOLS).default('PLAINTEXT'),
  KAFKA_SASL_MECHANISM: z.enum(SASL_MECHANISMS).optional(),
  KAFKA_SASL_USERNAME: optionalText,
  KAFKA_SASL_PASSWORD: optionalText,
  KAFKA_SSL_CA_FILE: pemFile,
  KAFKA_SSL_CERT_FILE: pemFile,
  KAFKA_SSL_KEY_FILE: pemFile,
};

/** A Confluent-compatible registry, with basic auth (as Confluent Cloud asks) and a CA file for https. */
export const registryEnv = {
  SCHEMA_REGISTRY_URL: url(DEFAULTS.SCHEMA_REGISTRY_URL, ['http:', 'https:']),
  SCHEMA_REGISTRY_USERNAME: optionalText,
  SCHEMA_REGISTRY_PASSWORD: optionalText,
  SCHEMA_REGISTRY_CA_FILE: pemFile,
};

type KafkaSettings = z.infer<z.ZodObject<typeof kafkaEnv>>;
type RegistrySettings = z.infer<z.ZodObject<typeof registryEnv>>;

/** The settings of a connection that only make sense together, checked as a whole. */
function connectionProblems(env: Partial<KafkaSettings & RegistrySettings>): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const protocol = env.KAFKA_SECURITY_PROTOCOL ?? 'PLAINTEXT';
  if (protocol.startsWith('SASL_')) {
    for (const name of ['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const) {
      if (!env[name]) problems.push({ path: name, message: `is required with KAFKA_SECURITY_PROTOCOL=${protocol}` });
    }
  } else {
    for (const name of ['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const) {
      if (env[name])
        problems.push({
          path: name,
          message: `is only read with KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL (it is ${protocol})`,
        });
    }
  }
  if (!protocol.endsWith('SSL')) {
    for (const name of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'] as const) {
      if (env[name])
        problems.push({
          path: name,
          message: `is only read with KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL (it is ${protocol})`,
        });
    }
  }
  if (Boolean(env.KAFKA_SSL_CERT_FILE) !== Boolean(env.KAFKA_SSL_KEY_FILE)) {
    problems.push({
      path: env.KAFKA_SSL_CERT_FILE ? 'KAFKA_SSL_KEY_FILE' : 'KAFKA_SSL_CERT_FILE',
      message: 'a client certificate and its key are set together, for mutual TLS',
    });
  }
  if (Boolean(env.SCHEMA_REGISTRY_USERNAME) !== Boolean(env.SCHEMA_REGISTRY_PASSWORD)) {
    problems.push({
      path: env.SCHEMA_REGISTRY_USERNAME ? 'SCHEMA_REGISTRY_PASSWORD' : 'SCHEMA_REGISTRY_USERNAME',
      message: 'the registry user and password are set together',
    });
  }
  if (env.SCHEMA_REGISTRY_CA_FILE && env.SCHEMA_REGISTRY_URL?.startsWith('http:')) {
    problems.push({ path: 'SCHEMA_REGISTRY_CA_FILE', message: 'is only read for an https SCHEMA_REGISTRY_URL' });
  }
  return problems;
}

/**
 * Refines a process's schema with the checks of the connections it makes. Run even when other
 * settings are wrong too, so that every problem is named at once.
 */
export function checkConnections(env: Partial<KafkaSettings & RegistrySettings>, ctx: z.RefinementCtx): void {
  for (const { path, message } of connectionProblems(env)) ctx.addIssue({ code: 'custom', path: [path], message });
}

export function kafkaConnectionFrom(env: KafkaSettings): KafkaConnection {
  const protocol = env.KAFKA_SECURITY_PROTOCOL;
  const tls = protocol.endsWith('SSL')
    ? { ca: env.KAFKA_SSL_CA_FILE, cert: env.KAFKA_SSL_CERT_FILE, key: env.KAFKA_SSL_KEY_FILE }
    : undefined;
  const sasl = protocol.startsWith('SASL_')
    ? { mechanism: env.KAFKA_SASL_MECHANISM!, username: env.KAFKA_SASL_USERNAME!, password: env.KAFKA_SASL_PASSWORD! }
    : undefined;
  return { brokers: env.KAFKA_BROKERS, tls, sasl };
}

export function registryConnectionFrom(env: RegistrySettings): RegistryConnection {
  const auth = env.SCHEMA_REGISTRY_USERNAME
    ? { username: env.SCHEMA_REGISTRY_USERNAME, password: env.SCHEMA_REGISTRY_PASSWORD! }
    : undefined;
  return { url: env.SCHEMA_REGISTRY_URL, auth, ca: env.SCHEMA_REGISTRY_CA_FILE };
}

/** Settings every process that reads or writes the log shares; each process extends this with its own. */
export const commonEnv = {
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default(DEFAULTS.LOG_LEVEL),
  HOST: z.string().min(1).default(DEFAULTS.HOST),
  ...kafkaEnv,
  ...registryEnv,
  TOPIC_MOVIE_METADATA: topicName(DEFAULTS.TOPIC_MOVIE_METADATA),
  TOPIC_MOVIE_RATINGS: topicName(DEFAULTS.TOPIC_MOVIE_RATINGS),
  TOPIC_MOVIE_METADATA_DLQ: deadLetterTopicName,
  TOPIC_MOVIE_RATINGS_DLQ: deadLetterTopicName,
};

/**
 * A Postgres URL; TLS as libpq reads it from the URL (`sslmode` disable, require, verify-ca or
 * verify-full; `sslrootcert`, `sslcert`, `sslkey` files).
 */
function checkTlsParams(value: string | undefined, ctx: z.RefinementCtx): void {
  const problem = value === undefined ? undefined : databaseUrlProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}

const databaseUrl = url(DEFAULTS.DATABASE_URL, ['postgres:', 'postgresql:']).superRefine(checkTlsParams);

/** A read replica (hot standby) of DATABASE_URL, for the query API's reads; unset, they go to DATABASE_URL. */
export const queryDatabaseUrl = optionalUrl(['postgres:', 'postgresql:']).superRefine(checkTlsParams);

export const databaseEnv = {
  DATABASE_URL: databaseUrl,
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
export function tracingFrom(env: {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  OTEL_SDK_DISABLED?: string | undefined;
}): TracingConfig | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return { tracesUrl: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT };
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT)
    return { tracesUrl: `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` };
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
    [
      env.TOPIC_MOVIE_METADATA,
      env.TOPIC_MOVIE_METADATA_DLQ ?? `${env.TOPIC_MOVIE_METADATA}${DEFAULTS.DEAD_LETTER_SUFFIX}`,
    ],
    [
      env.TOPIC_MOVIE_RATINGS,
      env.TOPIC_MOVIE_RATINGS_DLQ ?? `${env.TOPIC_MOVIE_RATINGS}${DEFAULTS.DEAD_LETTER_SUFFIX}`,
    ],
  ]);
}

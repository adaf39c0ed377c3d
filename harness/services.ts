import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { canConnect } from '../infra/daemon.ts';
import pg from 'pg';
import { z } from 'zod';
import {
  checkConnections,
  databaseEnv,
  deadLetterTopicsFrom,
  kafkaConnectionFrom,
  kafkaEnv,
  loadConfig,
  registryConnectionFrom,
  registryEnv,
  type DeadLetterTopics,
  type Topics,
} from '../shared/config.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { ensureTopics } from '../shared/kafka/topics.ts';
import { createLogger } from '../shared/logger.ts';
import type { Kafka } from 'kafkajs';
import { migrate } from '../shared/db/migrate.ts';
import { createCatalogueProjector } from '../projectors/projector.ts';
import type { ConsumerTuning, ProjectorRunner } from '../projectors/consumer/runner.ts';
import type { Pool } from '../shared/db/pool.ts';
import { createMetrics, type Metrics } from '../shared/metrics.ts';
import type { Tracing } from '../shared/tracing.ts';

const settings = loadConfig(z.object({ ...kafkaEnv, ...registryEnv, ...databaseEnv }).superRefine(checkConnections));

/**
 * The real services the integration and end-to-end tests talk to, as `npm test` started them,
 * reached with the settings the services read (so that the suite can run against a secured cluster).
 */
export const services = {
  brokers: settings.KAFKA_BROKERS,
  kafka: kafkaConnectionFrom(settings),
  registryUrl: settings.SCHEMA_REGISTRY_URL,
  registry: registryConnectionFrom(settings),
  databaseUrl: settings.DATABASE_URL,
};

export const quietLogger = () => createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Two free ports in a row: a broker's and its controller's. */
export async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port < 65535 && !(await canConnect('127.0.0.1', port + 1))) return port;
  }
}

export const uniqueName = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

export interface TestTopics extends Topics {
  /** The dead-letter topic of each source topic. */
  deadLetters: DeadLetterTopics;
  /** Deletes the topics and the registry subjects written for them. */
  remove(): Promise<void>;
}

/** Fresh topics, and their dead-letter topics, per test, so tests never see each other's events. */
export async function createTestTopics(partitions = 3): Promise<TestTopics> {
  const topics = { movieMetadata: uniqueName('test-metadata'), movieRatings: uniqueName('test-ratings') };
  const deadLetters = deadLetterTopicsFrom({
    TOPIC_MOVIE_METADATA: topics.movieMetadata,
    TOPIC_MOVIE_RATINGS: topics.movieRatings,
  });
  const all = [topics.movieMetadata, topics.movieRatings, ...deadLetters.values()];
  const kafka = createKafka('test-setup', services.kafka, quietLogger());
  await ensureTopics(kafka, all, partitions);
  return {
    ...topics,
    deadLetters,
    async remove() {
      const admin = kafka.admin();
      await admin.connect();
      try {
        // A test may have deleted one of them itself.
        const existing = new Set(await admin.listTopics());
        await admin.deleteTopics({ topics: all.filter((topic) => existing.has(topic)) });
      } finally {
        await admin.disconnect();
      }
      await deleteSubjects(
        (subject) => subject.startsWith(`${topics.movieMetadata}-`) || subject.startsWith(`${topics.movieRatings}-`),
      );
    },
  };
}

/** Deletes the registry's subjects that `matches` picks, soft then for good. */
export async function deleteSubjects(matches: (subject: string) => boolean): Promise<void> {
  const base = services.registryUrl.replace(/\/$/, '');
  const subjects = (await (await fetch(`${base}/subjects`)).json()) as string[];
  for (const subject of subjects.filter(matches)) {
    const path = `${base}/subjects/${encodeURIComponent(subject)}`;
    await fetch(path, { method: 'DELETE' });
    await fetch(`${path}?permanent=true`, { method: 'DELETE' });
  }
}

/** Consumer settings for tests: a killed member is noticed as fast as the broker allows. */
export const TEST_TUNING: ConsumerTuning = {
  sessionTimeoutMs: 6000,
  heartbeatIntervalMs: 500,
  partitionsConsumedConcurrently: 3,
  maxBytesPerPartition: 1024 * 1024,
};

/** A started projector over `topics` into `pool`, wired as projectors/main.ts wires it. */
export async function startTestProjector(options: {
  kafka: Kafka;
  pool: Pool;
  topics: TestTopics;
  groupId?: string;
  tracing?: Tracing;
}): Promise<TestProjector> {
  const fatal: Error[] = [];
  const metrics = createMetrics('projectors');
  const runner = createCatalogueProjector({
    kafka: options.kafka,
    pool: options.pool,
    registry: services.registry,
    groupId: options.groupId ?? uniqueName('group'),
    topics: options.topics,
    deadLetterTopics: options.topics.deadLetters,
    tuning: TEST_TUNING,
    logger: quietLogger(),
    metrics,
    tracing: options.tracing,
    onFatal: (err) => fatal.push(err),
  });
  await runner.start();
  return Object.assign(runner, { metrics, fatal });
}

export type TestProjector = ProjectorRunner & { metrics: Metrics; fatal: Error[] };

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function onServer(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: services.databaseUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh database on the test Postgres server, migrated unless told not to be; `drop()` removes it. */
export async function createTestDatabase(prefix = 'test', { migrated = true } = {}): Promise<TestDatabase> {
  const name = uniqueName(prefix).replaceAll('-', '_');
  await onServer(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  const url = new URL(services.databaseUrl);
  url.pathname = `/${name}`;
  // FORCE: a consumer stopped mid-transaction may leave a session behind.
  const database = {
    name,
    url: url.toString(),
    drop: () => onServer(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`),
  };
  try {
    if (migrated) await migrate(database.url, quietLogger());
  } catch (err) {
    await database.drop();
    throw err;
  }
  return database;
}

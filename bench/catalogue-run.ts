import type { Kafka } from 'kafkajs';
import pg from 'pg';
import type { ConsumerTuning } from '../projectors/consumer/runner.ts';
import type { Cleanups } from './cleanups.ts';
import { startProjectorProcess } from '../harness/projector-process.ts';
import { createTestDatabase, freePort } from '../harness/services.ts';
import type { ExpectedFold } from '../harness/rating-stream.ts';
import { endOffsetSum, type BenchTopics } from './kafka.ts';
import { verifyRatings } from '../harness/verify-ratings.ts';
import { metricTotal, profileFlags } from './service-probe.ts';
import { waitUntilReached } from './progress.ts';

export interface CatalogueRunOptions {
  kafka: Kafka;
  topics: BenchTopics;
  expected: ExpectedFold;
  events: number;
  poolSize: number;
  tuning: ConsumerTuning;
  groupId: string;
  cleanups: Cleanups;
  /** How the projector reaches Kafka, when not the test suite's broker (a secured cluster's settings). */
  kafkaEnv?: Record<string, string>;
}

export interface CatalogueRun {
  seconds: number;
  problems: string[];
  batches: number;
  meanBatchSize: number;
  meanBatchMs: number;
}

/**
 * The real projector process, as `npm start` runs it, from an empty database: timed from its
 * spawn (process start, migrations and group join included) until the offsets it stores in
 * Postgres reach the end of every partition, then checked against the independent fold. Its own
 * process, so that nothing the benchmark keeps in memory weighs on its garbage collector.
 */
export async function runCatalogueProjector(options: CatalogueRunOptions): Promise<CatalogueRun> {
  const { cleanups, tuning } = options;
  const database = await createTestDatabase('bench');
  const dropDatabase = cleanups.add(`drop database ${database.name}`, () => database.drop());
  const watcher = new pg.Client({ connectionString: database.url });
  await watcher.connect();
  const endWatcher = cleanups.add('close the watcher connection', () => watcher.end());

  const target = await endOffsetSum(options.kafka, options.topics.movieRatings);
  const port = await freePort();
  const started = performance.now();
  const projector = startProjectorProcess({
    databaseUrl: database.url,
    topics: options.topics,
    groupId: options.groupId,
    nodeFlags: profileFlags(),
    env: {
      PROJECTOR_PORT: String(port),
      DATABASE_POOL_SIZE: String(options.poolSize),
      PROJECTOR_SESSION_TIMEOUT_MS: String(tuning.sessionTimeoutMs),
      PROJECTOR_HEARTBEAT_INTERVAL_MS: String(tuning.heartbeatIntervalMs),
      PROJECTOR_CONCURRENCY: String(tuning.partitionsConsumedConcurrently),
      PROJECTOR_MAX_BYTES_PER_PARTITION: String(tuning.maxBytesPerPartition),
      // Its warnings and errors still show; routine chatter would bury the figures.
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      ...options.kafkaEnv,
    },
  });
  const stopProjector = cleanups.add('stop the projector', () => projector.kill('SIGTERM'));
  let exitCode: number | null | undefined;
  void projector.exited.then((code) => (exitCode = code));

  await waitUntilReached({
    label: '(b)',
    target,
    started,
    reached: () => storedTotal(watcher, options.topics.movieRatings),
    trouble: () =>
      exitCode === undefined ? undefined : new Error(`the projector exited with code ${String(exitCode)}`),
  });
  const seconds = (performance.now() - started) / 1000;

  const figures = batchFigures(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  await stopProjector();
  const problems = await verifyRatings(watcher, options.expected, options.events);
  await endWatcher();
  await dropDatabase();
  return { seconds, problems, ...figures };
}

/** The sum of the next offsets stored for `topic`; 0 until the projector has created its tables. */
async function storedTotal(client: pg.Client, topic: string): Promise<number> {
  try {
    const { rows } = await client.query<{ total: string }>(
      'SELECT coalesce(sum(next_offset), 0)::text AS total FROM ratings.projection_offsets WHERE topic = $1',
      [topic],
    );
    return Number(rows[0]!.total);
  } catch (err) {
    if ((err as { code?: string }).code === '42P01' || (err as { code?: string }).code === '3F000') return 0;
    throw err;
  }
}

/** Mean size and duration of the partition batches the projector applied, from its own metrics. */
function batchFigures(exposition: string): Pick<CatalogueRun, 'batches' | 'meanBatchSize' | 'meanBatchMs'> {
  const total = (metric: string) => metricTotal(exposition, metric);
  const batches = total('projection_batch_size_count');
  const records = total('projection_batch_size_sum');
  const seconds = total('projection_batch_duration_seconds_sum');
  return {
    batches,
    meanBatchSize: batches > 0 ? records / batches : 0,
    meanBatchMs: batches > 0 ? (1000 * seconds) / batches : 0,
  };
}

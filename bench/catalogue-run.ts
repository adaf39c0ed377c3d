import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import pg from 'pg';
import { createCatalogueProjector } from '../projectors/projector.ts';
import type { ConsumerTuning } from '../projectors/runner.ts';
import { createPool } from '../shared/db/pool.ts';
import type { Logger } from '../shared/logger.ts';
import { createMetrics, type Metrics } from '../shared/metrics.ts';
import type { Cleanups } from './cleanups.ts';
import { createTestDatabase } from '../test/support/services.ts';
import type { ExpectedFold } from '../test/support/rating-stream.ts';
import { endOffsetSum, type BenchTopics } from './kafka.ts';
import { verifyRatings } from '../test/support/verify-ratings.ts';

const POLL_MS = 100;
const PROGRESS_EVERY_MS = 5_000;
/** No stored offset moving for this long means the projector is stuck, not slow. */
const STALL_MS = 120_000;

export interface CatalogueRunOptions {
  kafka: Kafka;
  registryUrl: string;
  topics: BenchTopics;
  expected: ExpectedFold;
  events: number;
  poolSize: number;
  tuning: ConsumerTuning;
  groupId: string;
  logger: Logger;
  cleanups: Cleanups;
}

export interface CatalogueRun {
  seconds: number;
  problems: string[];
  batches: number;
  meanBatchSize: number;
  meanBatchMs: number;
}

/**
 * The real projector, wired as projectors/main.ts wires it, from an empty read model: timed from
 * start() until the offsets it stores in Postgres reach the end of every partition, then checked
 * against the independent fold.
 */
export async function runCatalogueProjector(options: CatalogueRunOptions): Promise<CatalogueRun> {
  const { cleanups, logger } = options;
  const database = await createTestDatabase('bench');
  const dropDatabase = cleanups.add(`drop database ${database.name}`, () => database.drop());
  const pool = createPool(database.url, options.poolSize, logger);
  const endPool = cleanups.add('close the projector pool', () => pool.end());
  const watcher = new pg.Client({ connectionString: database.url });
  await watcher.connect();
  const endWatcher = cleanups.add('close the watcher connection', () => watcher.end());

  const target = await endOffsetSum(options.kafka, options.topics.movieRatings);
  const metrics = createMetrics('bench');
  let fatal: Error | undefined;
  const runner = createCatalogueProjector({
    kafka: options.kafka,
    pool,
    registryUrl: options.registryUrl,
    groupId: options.groupId,
    topics: options.topics,
    deadLetterTopics: options.topics.deadLetters,
    tuning: options.tuning,
    logger,
    metrics,
    onFatal: (err) => (fatal = err),
  });
  const stopRunner = cleanups.add('stop the projector', () => runner.stop());

  const started = performance.now();
  await runner.start();
  await waitForOffsets(watcher, options.topics.movieRatings, target, started, () => fatal ?? runner.problem());
  const seconds = (performance.now() - started) / 1000;

  await stopRunner();
  const problems = await verifyRatings(watcher, options.expected, options.events);
  await endWatcher();
  await endPool();
  await dropDatabase();
  return { seconds, problems, ...(await batchFigures(metrics)) };
}

/** Polls the stored offsets until they sum to `target`; fails on a fatal error or a long stall. */
async function waitForOffsets(client: pg.Client, topic: string, target: number, started: number, trouble: () => Error | string | undefined): Promise<void> {
  let last = -1;
  let lastMove = performance.now();
  let lastReport = performance.now();
  for (;;) {
    const { rows } = await client.query<{ total: string }>('SELECT coalesce(sum(next_offset), 0)::text AS total FROM ratings.projection_offsets WHERE topic = $1', [
      topic,
    ]);
    const applied = Number(rows[0]!.total);
    if (applied >= target) return;
    const now = performance.now();
    const problem = trouble();
    if (problem instanceof Error) throw problem;
    if (applied !== last) [last, lastMove] = [applied, now];
    else if (now - lastMove > STALL_MS) throw new Error(`projector stalled at ${applied} of ${target}: ${problem ?? 'no problem reported'}`);
    if (now - lastReport >= PROGRESS_EVERY_MS) {
      lastReport = now;
      const elapsed = (now - started) / 1000;
      console.log(`  (b) ${applied.toLocaleString('en-US')} / ${target.toLocaleString('en-US')} after ${elapsed.toFixed(1)} s${problem ? ` (${problem})` : ''}`);
    }
    await sleep(POLL_MS);
  }
}

/** Mean size and duration of the partition batches the projector applied, from its own metrics. */
async function batchFigures(metrics: Metrics): Promise<Pick<CatalogueRun, 'batches' | 'meanBatchSize' | 'meanBatchMs'>> {
  const total = async (histogram: Metrics['batchSize'], suffix: '_sum' | '_count') =>
    (await histogram.get()).values.filter((v) => v.metricName?.endsWith(suffix)).reduce((sum, v) => sum + v.value, 0);
  const batches = await total(metrics.batchSize, '_count');
  const records = await total(metrics.batchSize, '_sum');
  const seconds = await total(metrics.batchDuration, '_sum');
  return { batches, meanBatchSize: batches > 0 ? records / batches : 0, meanBatchMs: batches > 0 ? (1000 * seconds) / batches : 0 };
}

import { table, TABLES } from '../../shared/read-models.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { type Kafka } from 'kafkajs';
import type { DeadLetterTopics } from '../../shared/config.ts';
import type { Pool, PoolClient } from '../../shared/db/pool.ts';
import { EventDecoder } from '../../shared/kafka/decoder.ts';
import { CatalogueError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Metrics } from '../../shared/metrics.ts';
import { createDeadLetterWriter, type DeadLetterWriter } from '../pipeline/dead-letters.ts';
import { createSink } from '../pipeline/sink.ts';
import { type Projection } from '../projection.ts';
import { createProjectorRunner, type ConsumerTuning } from '../consumer/runner.ts';
import {
  createShadow,
  dropSchema,
  offsetsIn,
  oldSchemaOf,
  schemaExists,
  shadowSchemaOf,
  shortfall,
  swapSchemas,
} from './shadow.ts';
import type { RegistryConnection } from '../../shared/registry.ts';
import { DEFAULTS } from '../../shared/defaults.ts';

export interface RebuildDeps {
  kafka: Kafka;
  pool: Pool;
  registry: RegistryConnection;
  deadLetterTopics: DeadLetterTopics;
  logger: Logger;
  metrics: Metrics;
  tuning: ConsumerTuning;
}

export interface RebuildOptions {
  /** How long the old schema stays after the swap, for reads still on it; undefined: kept. */
  dropOldAfterMs: number | undefined;
  onProgress(progress: RebuildProgress): void;
}

export interface PartitionProgress {
  partition: number;
  /** The shadow's next offset. */
  applied: number;
  /** The end of the partition in Kafka, when last asked. */
  end: number;
}

export interface RebuildProgress {
  projection: string;
  phase: 'rebuilding' | 'swapping' | 'swapped' | 'dropping old schema';
  partitions: PartitionProgress[];
  /** Where the rebuild started from (0, or its own stored offsets when resumed). */
  startedFrom: number;
  elapsedMs: number;
}

export interface RebuildSummary {
  projection: string;
  events: number;
  resumedFrom: number;
  seconds: number;
  live: string;
  old: string;
  dropped: boolean;
}

/** Another rebuild of the projection holds its lock. */
export class RebuildBusyError extends CatalogueError {}

const POLL_MS = 200;
/** How far behind the live projection the shadow may be for the swap to begin (records). */
const SWAP_WITHIN = 5000;
/**
 * How long the swap holds the live offsets for the shadow to reach them before it lets go and
 * tries again: well within the live projectors' lock timeout (10 s), which they wait on meanwhile.
 */
const SWAP_WAIT_MS = 5000;

const total = (offsets: ReadonlyMap<number, number>) => [...offsets.values()].reduce((a, b) => a + b, 0);

/** The name of a projection's rebuild lock, a Postgres advisory lock on its hash. */
export const rebuildLockName = (projection: string) => `movie-catalogue:rebuild:${projection}`;

/** One lock per projection's rebuild, held by the session: a crashed rebuild lets go of it. */
async function lockRebuild(client: PoolClient, projection: string): Promise<void> {
  const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [
    rebuildLockName(projection),
  ]);
  if (!rows[0]!.locked) throw new RebuildBusyError(`Another rebuild of ${projection} is running; only one at a time.`);
}

/**
 * Dead letters of a rebuild go to the dead-letter topic only when the live projection has not
 * recorded them at that position already: a rebuild re-reads poison records the live one sent
 * long ago, and a record it reaches first must not be lost should its offsets become the live
 * ones. Where both reach a record, it is there twice; the tools count dead letters by position.
 */
function newDeadLettersOnly(writer: DeadLetterWriter, pool: Pool, live: string): DeadLetterWriter {
  return {
    ...writer,
    async send(letters) {
      if (letters.length === 0) return;
      const { rows } = await pool.query<{ partition: number; offset: number }>(
        `SELECT partition, "offset" FROM ${table(live, TABLES.deadLetters)} WHERE topic = $1 AND ("partition", "offset") IN (SELECT * FROM unnest($2::int[], $3::bigint[]))`,
        [letters[0]!.source.topic, letters.map((l) => l.source.partition), letters.map((l) => l.source.offset)],
      );
      const known = new Set(rows.map((r) => `${r.partition}/${r.offset}`));
      await writer.send(letters.filter((l) => !known.has(`${l.source.partition}/${l.source.offset}`)));
    },
  };
}

/**
 * Rebuilds one projection from the log into its shadow schema (or goes on with the shadow a
 * crashed rebuild left), with the live pipeline's own sink and runner in a consumer group of
 * its own, while the live projection keeps serving and applying. Once the shadow is close to
 * the live offsets, the swap holds the live offsets (the live projectors wait on them), lets the
 * shadow reach them, stops the rebuild's consumer and renames the schemas in one transaction.
 * The live projectors go on from the rebuilt offsets: their next batch finds the new offsets
 * and, if it does not start there, seeks to them. Readers never see a partial view, nor one
 * older than what they saw: the swapped-in offsets are at least the live ones.
 */
export async function rebuildProjection(
  deps: RebuildDeps,
  projection: Projection,
  options: RebuildOptions,
): Promise<RebuildSummary> {
  const { pool, logger } = deps;
  const live = projection.schema;
  const shadow = shadowSchemaOf(live);
  const started = performance.now();
  const lockClient = await pool.connect();
  const admin = deps.kafka.admin();
  let runner: ReturnType<typeof createProjectorRunner> | undefined;
  try {
    await admin.connect();
    const endOffsets = async () =>
      new Map((await admin.fetchTopicOffsets(projection.topic)).map((p) => [p.partition, Number(p.high)]));
    await lockRebuild(lockClient, projection.name);
    if (!(await schemaExists(pool, live)))
      throw new Error(`There is no schema ${live} to rebuild: start the projectors once (or npm run migrate) first.`);
    if (!(await schemaExists(pool, shadow))) await createShadow(pool, live, shadow);
    const startedFrom = total(await offsetsIn(pool, shadow, projection.topic));

    let fatal: Error | undefined;
    const rebuilding: Projection = { ...projection, schema: shadow };
    // Its own group: it reads every partition without taking any from the live projectors.
    const groupId = `${DEFAULTS.REBUILD_GROUP_PREFIX}${projection.name}`;
    const deadLetters = newDeadLettersOnly(
      createDeadLetterWriter(deps.kafka, deps.deadLetterTopics, groupId),
      pool,
      live,
    );
    runner = createProjectorRunner({
      kafka: deps.kafka,
      groupId,
      pool,
      projections: [rebuilding],
      deadLetters,
      sink: createSink({ pool, decoder: new EventDecoder(deps.registry), deadLetters, projections: [rebuilding] }),
      logger,
      metrics: deps.metrics,
      tuning: deps.tuning,
      onFatal: (err) => (fatal = err),
    });
    await runner.start();

    let ends = await endOffsets();
    let endsAt = performance.now();
    /**
     * The log's end moves the progress shown and when a swap is first tried; the swap itself waits
     * for the live offsets. So while a broker fails over, the last known end will do.
     */
    const refreshEnds = async () => {
      try {
        ends = await endOffsets();
      } catch (err) {
        if (!(err instanceof kafkajs.KafkaJSError)) throw err;
        logger.warn(
          { err, projection: projection.name },
          "the log's end offsets are unreadable for now; going on with the last known",
        );
      }
      endsAt = performance.now();
    };
    const report = async (phase: RebuildProgress['phase'], applied?: ReadonlyMap<number, number>) => {
      if (performance.now() - endsAt > 1000) await refreshEnds();
      const offsets = applied ?? (await offsetsIn(pool, shadow, projection.topic));
      options.onProgress({
        projection: projection.name,
        phase,
        startedFrom,
        elapsedMs: performance.now() - started,
        partitions: [...ends]
          .sort(([a], [b]) => a - b)
          .map(([partition, end]) => ({ partition, applied: offsets.get(partition) ?? 0, end })),
      });
      return offsets;
    };

    let swapped: { old: string; applied: number } | undefined;
    while (!swapped) {
      if (fatal) throw fatal;
      const applied = await report('rebuilding');
      const behind = total(shortfall(applied, await offsetsIn(pool, live, projection.topic)));
      const atEnd = total(shortfall(applied, ends)) <= SWAP_WITHIN;
      if (behind <= SWAP_WITHIN && atEnd) swapped = await trySwap();
      else await sleep(POLL_MS);
    }

    /** The swap, or undefined when the shadow did not reach the held live offsets in time. */
    async function trySwap(): Promise<{ old: string; applied: number } | undefined> {
      await lockClient.query('BEGIN');
      try {
        const held = await offsetsIn(lockClient, live, projection.topic, true);
        const deadline = performance.now() + SWAP_WAIT_MS;
        let applied = await report('swapping');
        while (shortfall(applied, held).size > 0) {
          if (fatal) throw fatal;
          if (performance.now() > deadline) {
            await lockClient.query('ROLLBACK');
            logger.warn(
              { projection: projection.name },
              'the shadow did not reach the live offsets in time; the swap is tried again',
            );
            return undefined;
          }
          await sleep(POLL_MS / 4);
          applied = await report('swapping');
        }
        // No rebuild batch may commit into the schema once it is live: the live projectors own it then.
        await runner!.stop();
        runner = undefined;
        const old = oldSchemaOf(live, new Date());
        await swapSchemas(lockClient, live, shadow, old);
        await lockClient.query('COMMIT');
        const final = await offsetsIn(pool, live, projection.topic);
        await report('swapped', final);
        return { old, applied: total(final) };
      } catch (err) {
        await lockClient.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }

    const summary: RebuildSummary = {
      projection: projection.name,
      events: swapped.applied - startedFrom,
      resumedFrom: startedFrom,
      seconds: (performance.now() - started) / 1000,
      live,
      old: swapped.old,
      dropped: false,
    };
    if (options.dropOldAfterMs !== undefined) {
      options.onProgress({
        projection: projection.name,
        phase: 'dropping old schema',
        startedFrom,
        elapsedMs: performance.now() - started,
        partitions: [],
      });
      await sleep(options.dropOldAfterMs);
      await dropSchema(pool, swapped.old);
      summary.dropped = true;
    }
    return summary;
  } finally {
    await runner?.stop().catch((err: unknown) => logger.warn({ err }, 'the rebuild consumer did not stop cleanly'));
    await admin.disconnect();
    lockClient.release();
  }
}

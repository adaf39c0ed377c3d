import type { Batch, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Pool } from '../../shared/db/pool.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Metrics } from '../../shared/metrics.ts';
import type { Tracing } from '../../shared/tracing.ts';
import type { DeadLetterWriter } from '../pipeline/dead-letters.ts';
import type { FetchedBatch, GroupOutcome, PartitionBatch } from '../pipeline/batch.ts';
import type { Sink } from '../pipeline/sink.ts';
import type { Projection } from '../projection.ts';
import { startApplySpan } from './apply-span.ts';
import { forgetPartitionGauges, reportParkedKeys, seekToStoredOffsets } from './assignment.ts';
import { backoffMs } from './backoff.ts';
import { createOffsetCopy, type OffsetCopy } from './kafka-offset-copy.ts';
import { reportSettled } from './report.ts';
import { Scheduler, type Effect } from './scheduler.ts';
import { whenAvailable } from '../../shared/startup.ts';

export interface ConsumerTuning {
  /** How long the group waits for a silent member (a killed process) before giving its partitions away. */
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** How many partition batches are applied at once. */
  partitionsConsumedConcurrently: number;
  maxBytesPerPartition: number;
}

export interface ProjectorDeps {
  kafka: Kafka;
  groupId: string;
  pool: Pool;
  sink: Sink;
  deadLetters: DeadLetterWriter;
  projections: readonly Projection[];
  logger: Logger;
  metrics: Metrics;
  tuning: ConsumerTuning;
  /** A span per partition batch applied, linked to its events' producers; none when tracing is off. */
  tracing?: Tracing | undefined;
  /** Called when the consumer has stopped for good; the process should exit and be restarted. */
  onFatal(err: Error): void;
}

export interface ProjectorRunner {
  start(): Promise<void>;
  /** Lets the batches being applied finish and commit, then leaves the group. */
  stop(): Promise<void>;
  /** Why the projector is not making progress, or undefined when it is. */
  problem(): string | undefined;
}

/** Records a lane merges fetches into, and the most a group of several partitions' batches takes. */
const MERGED_BATCH_RECORDS = 5000;
/**
 * A group of fewer records does not start beside another: from this size on, a transaction's
 * fixed cost is a small share, and groups side by side keep Postgres and the projector busy at
 * once (docs/projections.md).
 */
const CONCURRENT_GROUP_RECORDS = 1000;
/** kafkajs's own default is 10 MB a fetch, less than one batch for each of a few partitions. */
const FETCH_MAX_BYTES = 64 * 1024 * 1024;

/**
 * One consumer group feeding every projection through the sink, each group of partition batches
 * applied in the transaction that stores their next offsets in Postgres. After COMMIT the offsets
 * are copied to Kafka for lag tooling (kafka-offset-copy.ts); Postgres is the truth: on
 * assignment each partition seeks to its stored offset, and the sink refuses a batch that does
 * not continue from there.
 *
 * kafkajs fetches from a broker only once every batch of its previous fetch is handled, so a
 * batch applied inside `eachBatch` would hold every partition behind the slowest one. Batches
 * are therefore handed to the scheduler (scheduler.ts), which decides what to apply, pause,
 * resume, seek and retry; this adapter wires kafkajs's events to it and carries out its effects.
 */
export function createProjectorRunner(deps: ProjectorDeps): ProjectorRunner {
  return new KafkaProjectorRunner(deps);
}

class KafkaProjectorRunner implements ProjectorRunner {
  private readonly log: Logger;
  private readonly consumer: Consumer;
  private readonly scheduler: Scheduler;
  private readonly offsetCopy: OffsetCopy;
  /** The groups being applied. */
  private readonly applying = new Set<Promise<void>>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private running = false;

  constructor(private readonly deps: ProjectorDeps) {
    const { tuning } = deps;
    this.log = deps.logger.child({ component: 'projector' });
    this.consumer = deps.kafka.consumer({
      groupId: deps.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: tuning.sessionTimeoutMs,
      heartbeatInterval: tuning.heartbeatIntervalMs,
      maxBytesPerPartition: tuning.maxBytesPerPartition,
      maxBytes: Math.max(FETCH_MAX_BYTES, tuning.maxBytesPerPartition),
      // With minBytes 1 the broker answers as soon as there is data; this only paces an idle or fully paused loop.
      maxWaitTimeInMs: 100,
    });
    this.scheduler = new Scheduler({
      concurrentGroups: tuning.partitionsConsumedConcurrently,
      mergedBatchRecords: MERGED_BATCH_RECORDS,
      concurrentGroupRecords: CONCURRENT_GROUP_RECORDS,
      backoffMs,
    });
    this.offsetCopy = createOffsetCopy(this.consumer, deps.metrics, this.log);
  }

  problem(): string | undefined {
    if (!this.running) return 'consumer is not running';
    return this.scheduler.retrying();
  }

  async start(): Promise<void> {
    const { consumer, deps } = this;
    await whenAvailable(
      'Kafka',
      async () => {
        await deps.deadLetters.connect();
        await consumer.connect();
        await consumer.subscribe({ topics: [...new Set(deps.projections.map((p) => p.topic))], fromBeginning: true });
      },
      this.log,
    );
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.onAssignment(payload.memberAssignment));
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      deps.metrics.consumerCrashes.inc();
      this.log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
      if (payload.restart) return;
      this.running = false;
      deps.onFatal(payload.error);
    });
    this.running = true;
    this.offsetCopy.start();
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.carryOut(this.scheduler.stop());
    // The groups being applied finish and commit their offsets while the consumer still can.
    await Promise.all(this.applying);
    await this.offsetCopy.stop();
    await this.consumer.disconnect();
    await this.deps.deadLetters.disconnect();
  }

  private eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    // Fetched before a retry paused the partition: it is read again when the retry comes.
    if (!this.running || !payload.isRunning() || payload.isStale() || !this.scheduler.accepts(topic, partition))
      return Promise.resolve();
    this.deps.metrics.consumerLag.set({ topic, partition: String(partition) }, Number(batch.offsetLag()));
    // The fetch position moves on now; should the batch fail, the scheduler seeks back to it.
    payload.resolveOffset(batch.lastOffset());
    this.carryOut(this.scheduler.fetched(partitionBatch(batch)));
    return Promise.resolve();
  }

  private onAssignment(assignment: Record<string, number[]>): void {
    const { deps, log, consumer, scheduler } = this;
    this.carryOut(scheduler.assigned());
    this.offsetCopy.forgetAssignment();
    forgetPartitionGauges(deps.metrics);
    log.info({ assignment }, 'partitions assigned');
    const about = { pool: deps.pool, projections: deps.projections, consumer, metrics: deps.metrics, scheduler };
    seekToStoredOffsets(about, assignment).catch((err: unknown) =>
      log.warn({ err }, 'could not seek to the stored offsets; the sink refuses a misplaced batch anyway'),
    );
    reportParkedKeys(about, assignment).catch((err: unknown) =>
      log.warn({ err }, 'could not count the parked keys; each partition reports them with its next batch'),
    );
  }

  private carryOut(effects: readonly Effect[]): void {
    for (const effect of effects) {
      switch (effect.kind) {
        case 'apply': {
          const applied: Promise<void> = this.applyGroup(effect.group, effect.batches)
            .catch((err: unknown) => this.log.error({ err }, 'unexpected failure reporting a group of batches'))
            .finally(() => this.applying.delete(applied));
          this.applying.add(applied);
          break;
        }
        case 'gather':
          // kafkajs hands a fetch's batches over one by one, a few microtasks apart: groups form once all are here.
          setImmediate(() => this.carryOut(this.scheduler.gathered()));
          break;
        case 'pause':
        case 'resume':
          this.consumer[effect.kind]([{ topic: effect.topic, partitions: [effect.partition] }]);
          break;
        case 'seek':
          this.consumer.seek({ topic: effect.topic, partition: effect.partition, offset: String(effect.offset) });
          break;
        case 'retry-timer':
        case 'cancel-retry-timer':
          this.setRetryTimer(effect);
          break;
        case 'stored':
          this.offsetCopy.stored(effect.topic, effect.partition, effect.nextOffset);
      }
    }
  }

  private setRetryTimer(effect: Extract<Effect, { kind: 'retry-timer' | 'cancel-retry-timer' }>): void {
    const key = `${effect.topic}/${effect.partition}`;
    clearTimeout(this.retryTimers.get(key));
    this.retryTimers.delete(key);
    if (effect.kind === 'cancel-retry-timer') return;
    const timer = setTimeout(() => {
      this.retryTimers.delete(key);
      this.carryOut(this.scheduler.retryDue(effect.topic, effect.partition));
    }, effect.delayMs);
    this.retryTimers.set(key, timer);
  }

  private async applyGroup(group: number, batches: PartitionBatch[]): Promise<void> {
    const { deps, log } = this;
    const started = process.hrtime.bigint();
    deps.metrics.groupSize.observe(batches.length);
    const spans = batches.map((batch) => deps.tracing && startApplySpan(deps.tracing, batch, deps.groupId));
    const outcome = await deps.sink.processGroup(batches).catch((error: unknown): GroupOutcome => ({
      results: batches.map(() => ({ ok: false, error: error as Error })),
    }));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (outcome.groupFailure) {
      deps.metrics.groupFallbacks.inc();
      log.warn(
        { err: outcome.groupFailure, partitions: batches.map(({ topic, partition }) => `${topic}/${partition}`) },
        'a group of batches failed together; each was applied alone',
      );
    }
    const { settled, effects } = this.scheduler.settled(group, outcome.results);
    this.carryOut(effects);
    for (const [i, member] of settled.entries())
      reportSettled({ metrics: deps.metrics, log }, member, spans[i], seconds);
  }
}

function partitionBatch(batch: Batch): FetchedBatch {
  const { topic, partition } = batch;
  return {
    topic,
    partition,
    fetchedOffset: Number((batch as Batch & { fetchedOffset: string }).fetchedOffset),
    nextOffset: Number(batch.lastOffset()) + 1,
    records: batch.messages.map((m) => ({
      topic,
      partition,
      offset: Number(m.offset),
      key: m.key ?? null,
      value: m.value,
      headers: m.headers ?? {},
      timestamp: m.timestamp,
    })),
  };
}

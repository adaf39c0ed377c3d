import type { Batch, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { backoffMs } from './backoff.ts';
import type { DeadLetterWriter } from './pipeline/dead-letters.ts';
import { transientKind } from './pipeline/failures.ts';
import { PositionError, type BatchReport, type Sink } from './pipeline/sink.ts';
import type { Projection } from './projection.ts';
import { storedOffsets } from './stored-offsets.ts';
import type { Pool } from '../shared/db/pool.ts';

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
  /** Called when the consumer has stopped for good; the process should exit and be restarted. */
  onFatal(err: Error): void;
}

export interface ProjectorRunner {
  start(): Promise<void>;
  /** Lets the batches in flight finish and commit, then leaves the group. */
  stop(): Promise<void>;
  /** Why the projector is not making progress, or undefined when it is. */
  problem(): string | undefined;
}

interface Retry {
  attempt: number;
  timer: NodeJS.Timeout | undefined;
  message: string;
}

/**
 * One consumer group feeding every projection through the sink, one transaction per partition
 * batch, with the offsets in Postgres. Only after COMMIT is the offset committed to Kafka, for
 * lag tooling; Postgres is the truth: on assignment each partition seeks to its stored offset, and
 * until a batch has started there, the sink refuses batches that start elsewhere.
 *
 * A failure of a batch is transient by construction (the sink dead-letters whatever is the
 * event's fault): the partition is paused and its batch read again after a capped, jittered
 * backoff, while the other partitions flow on; the fetch loop is never held by a sleep.
 */
export function createProjectorRunner(deps: ProjectorDeps): ProjectorRunner {
  const { kafka, sink, metrics, tuning } = deps;
  const log = deps.logger.child({ component: 'projector' });
  const topics = [...new Set(deps.projections.map((p) => p.topic))];
  const consumer: Consumer = kafka.consumer({
    groupId: deps.groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: tuning.sessionTimeoutMs,
    heartbeatInterval: tuning.heartbeatIntervalMs,
    maxBytesPerPartition: tuning.maxBytesPerPartition,
    maxWaitTimeInMs: 500,
  });
  let running = false;
  /** Partitions whose position this member has checked since it was assigned them. */
  const positioned = new Set<string>();
  /** Partitions that have had a batch since the assignment: the sink checks their position itself. */
  const delivered = new Set<string>();
  const retries = new Map<string, Retry>();
  const keyOf = (topic: string, partition: number) => `${topic}/${partition}`;

  function retryLater(topic: string, partition: number, err: Error): void {
    const key = keyOf(topic, partition);
    const retry = retries.get(key) ?? { attempt: 0, timer: undefined, message: '' };
    retry.attempt += 1;
    retry.message = `${key}: ${err.message}`;
    retries.set(key, retry);
    const kind = transientKind(err);
    metrics.projectionRetries.inc({ topic, kind });
    const delay = backoffMs(retry.attempt);
    log.warn({ err, topic, partition, attempt: retry.attempt, kind, retryInMs: delay }, 'batch failed; partition paused until the retry');
    // Unresolved, the batch is fetched again from the same offset once the partition resumes.
    consumer.pause([{ topic, partitions: [partition] }]);
    retry.timer = setTimeout(() => {
      retry.timer = undefined;
      consumer.resume([{ topic, partitions: [partition] }]);
    }, delay);
  }

  /** A new assignment: forget what the old one knew, and resume what it paused. */
  function resetAssignment(): void {
    for (const [key, retry] of retries) {
      clearTimeout(retry.timer);
      const cut = key.lastIndexOf('/');
      consumer.resume([{ topic: key.slice(0, cut), partitions: [Number(key.slice(cut + 1))] }]);
    }
    retries.clear();
    positioned.clear();
    delivered.clear();
  }

  function observe(topic: string, batch: Batch, report: BatchReport, seconds: number): void {
    metrics.batchDuration.observe({ topic }, seconds);
    metrics.batchSize.observe({ topic }, batch.messages.length);
    metrics.consumerLag.set({ topic, partition: String(batch.partition) }, Number(batch.offsetLag()));
    for (const c of report.counts) metrics.projectionEvents.inc({ projection: c.projection, event_type: c.eventType, outcome: c.outcome }, c.count);
    for (const letter of report.deadLetters) {
      metrics.deadLetters.inc({ projection: letter.projection, topic, code: letter.code });
      log.error(
        { projection: letter.projection, topic, partition: letter.source.partition, offset: letter.source.offset, code: letter.code, reason: letter.message },
        'record dead-lettered',
      );
    }
  }

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const key = keyOf(topic, partition);
    if (!payload.isRunning() || payload.isStale()) return;
    delivered.add(key);
    // kafkajs heartbeats only between batches; a slow transaction must not cost the assignment.
    const keepAlive = setInterval(() => void payload.heartbeat().catch(() => undefined), tuning.heartbeatIntervalMs);
    const started = process.hrtime.bigint();
    let report: BatchReport;
    try {
      report = await sink.process({
        topic,
        partition,
        fetchedOffset: Number((batch as Batch & { fetchedOffset: string }).fetchedOffset),
        nextOffset: Number(batch.lastOffset()) + 1,
        positioned: positioned.has(key),
        records: batch.messages.map((m) => ({
          topic,
          partition,
          offset: Number(m.offset),
          key: m.key ?? null,
          value: m.value,
          headers: m.headers ?? {},
          timestamp: m.timestamp,
        })),
      });
    } catch (err) {
      if (err instanceof PositionError) {
        log.warn({ topic, partition, fetched: err.fetched, expected: err.expected }, 'consumer is not at the stored offset; seeking to it');
        consumer.seek({ topic, partition, offset: String(err.expected) });
        return;
      }
      retryLater(topic, partition, err as Error);
      return;
    } finally {
      clearInterval(keepAlive);
    }
    positioned.add(key);
    retries.delete(key);
    observe(topic, batch, report, Number(process.hrtime.bigint() - started) / 1e9);
    payload.resolveOffset(batch.lastOffset());
    // Postgres holds the truth already; a failed commit here only delays what lag tools show.
    await consumer.commitOffsets([{ topic, partition, offset: String(Number(batch.lastOffset()) + 1) }]).catch((err: unknown) => {
      metrics.kafkaCommitFailures.inc({ topic });
      log.warn({ err, topic, partition }, 'could not commit the offset to Kafka; it follows with the next batch');
    });
  }

  return {
    problem() {
      if (!running) return 'consumer is not running';
      const [first] = retries.values();
      return first?.message;
    },
    async start() {
      await deps.deadLetters.connect();
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        resetAssignment();
        log.info({ assignment: payload.memberAssignment }, 'partitions assigned');
        void seekToStoredOffsets(payload.memberAssignment).catch((err: unknown) =>
          log.warn({ err }, 'could not seek to the stored offsets; the sink refuses a misplaced batch anyway'),
        );
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        metrics.consumerCrashes.inc();
        log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
        if (payload.restart) return;
        running = false;
        deps.onFatal(payload.error);
      });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: tuning.partitionsConsumedConcurrently,
        eachBatch,
      });
      running = true;
    },
    async stop() {
      running = false;
      resetAssignment();
      await consumer.disconnect();
      await deps.deadLetters.disconnect();
    },
  };

  async function seekToStoredOffsets(assignment: Record<string, number[]>): Promise<void> {
    for (const [topic, partitions] of Object.entries(assignment)) {
      const offsets = await storedOffsets(deps.pool, deps.projections.filter((p) => p.topic === topic), topic);
      for (const partition of partitions) {
        // A batch came meanwhile: the sink checks where it starts, and a seek now would only
        // make the consumer read it again. The seek is for partitions with nothing new to read.
        if (delivered.has(keyOf(topic, partition))) continue;
        consumer.seek({ topic, partition, offset: String(offsets.get(partition) ?? 0) });
      }
    }
  }
}

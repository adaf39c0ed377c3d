import type { Batch, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Span } from '@opentelemetry/api';
import type { Pool } from '../shared/db/pool.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import type { Tracing } from '../shared/tracing.ts';
import { endApplySpan, startApplySpan } from './apply-span.ts';
import { createOffsetCopy } from './kafka-offset-copy.ts';
import { backoffMs } from './backoff.ts';
import type { DeadLetterWriter } from './pipeline/dead-letters.ts';
import { classify, type TransientKind } from '../shared/failures.ts';
import type { BatchReport, FetchedBatch, GroupResult } from './pipeline/batch.ts';
import type { Sink } from './pipeline/sink.ts';
import type { Projection } from './projection.ts';
import { createSlots } from './slots.ts';
import { parkedKeyCounts, storedOffsets } from './stored-offsets.ts';

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

/**
 * Records a lane merges contiguous fetches into while they wait for a slot; a lane holding this
 * many waiting records, or a batch it cannot merge, pauses its partition until it drains. Also
 * the most records a group of several partitions' batches takes into one transaction.
 */
const MERGED_BATCH_RECORDS = 5000;
/**
 * A group of fewer records does not start beside another: it waits for one being applied to
 * finish. Under a steady stream, groups running side by side each pay a transaction's half a dozen
 * round trips for a handful of records, and the machine's cores go to that overhead instead of
 * to the events; the group that waits takes along what arrived meanwhile. From this size on, a
 * transaction's fixed cost is a small share, and side by side they keep Postgres and the
 * projector busy at once.
 */
const CONCURRENT_GROUP_RECORDS = 1000;
/** kafkajs's own default is 10 MB a fetch, less than one batch for each of a few partitions. */
const FETCH_MAX_BYTES = 64 * 1024 * 1024;

/**
 * What this member knows of one assigned partition. Its batches are applied one after another;
 * the waiting ones are dropped whenever the partition is read again from elsewhere (a failure, a
 * seek, a new assignment), so that nothing fetched before is applied after.
 */
interface Lane {
  topic: string;
  partition: number;
  /** Fetched and not yet applied, in log order. */
  waiting: FetchedBatch[];
  /** Applies the waiting batches while there are any. */
  draining: Promise<void> | undefined;
  /** The group being applied that holds this lane's head batch; a lane is in one group at a time. */
  inGroup: Promise<void> | undefined;
  /**
   * The next offset this member stored for the partition and has been reading on from since:
   * undefined until a batch started exactly at the stored offset (see PartitionBatch).
   */
  continuesFrom: number | undefined;
  retry: { attempt: number; timer: NodeJS.Timeout | undefined; message: string } | undefined;
  backpressured: boolean;
}

/**
 * One consumer group feeding every projection through the sink, each partition batch applied
 * in the transaction that stores its next offset in Postgres. After COMMIT the offsets are
 * copied to Kafka for lag tooling (kafka-offset-copy.ts); Postgres is the truth: on assignment
 * each partition seeks to its stored offset, and the sink refuses a batch that does not continue
 * from there.
 *
 * kafkajs fetches from a broker only once every batch of its previous fetch is handled, so a
 * batch applied inside `eachBatch` would hold every partition behind the slowest one. Batches
 * are therefore handed to a lane per partition and applied there, at most
 * `partitionsConsumedConcurrently` at once, while the consumer fetches on. Fetches that queue in
 * a lane meanwhile are merged into one batch (up to MERGED_BATCH_RECORDS), so that under a
 * steady stream of small fetches a busy projector runs fewer, larger transactions instead of
 * falling behind; a lane that cannot take more pauses its partition until it drains. A slot
 * takes the head batches of every lane waiting, up to MERGED_BATCH_RECORDS, into one
 * transaction (the sink's group): one fetch of a dozen partitions' few records each is one
 * transaction, not a dozen. A small group waits for one being applied to finish instead of
 * running beside it (CONCURRENT_GROUP_RECORDS), so that a steady stream runs one transaction
 * at a time, each taking along what arrived meanwhile.
 *
 * A failed batch is transient by construction (the sink dead-letters whatever is the event's
 * fault): its lane drops what waits behind it, the partition is paused and sought back to the
 * batch, and read again after a capped, jittered backoff, while the other partitions flow on.
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
    maxBytes: Math.max(FETCH_MAX_BYTES, tuning.maxBytesPerPartition),
    // With minBytes 1 the broker answers as soon as there is data; this only paces an idle or fully paused loop.
    maxWaitTimeInMs: 100,
  });
  const slots = createSlots(tuning.partitionsConsumedConcurrently);
  /** The groups being applied. */
  const applying = new Set<Promise<void>>();
  let running = false;
  /** The lanes of the current assignment; a partition gets one with its first batch. */
  let lanes = new Map<string, Lane>();
  const offsetCopy = createOffsetCopy(consumer, metrics, log);
  const keyOf = (topic: string, partition: number) => `${topic}/${partition}`;

  function laneOf(topic: string, partition: number): Lane {
    const key = keyOf(topic, partition);
    let lane = lanes.get(key);
    if (!lane) {
      lane = {
        topic,
        partition,
        waiting: [],
        draining: undefined,
        inGroup: undefined,
        continuesFrom: undefined,
        retry: undefined,
        backpressured: false,
      };
      lanes.set(key, lane);
    }
    return lane;
  }

  const isCurrent = (lane: Lane) => lanes.get(keyOf(lane.topic, lane.partition)) === lane;
  /** The lane's partition is paused until its retry timer fires. */
  const waitingToRetry = (lane: Lane) => lane.retry?.timer !== undefined;

  function pauseOrResume(lane: Lane): void {
    if (!isCurrent(lane)) return;
    const partitions = [{ topic: lane.topic, partitions: [lane.partition] }];
    if (waitingToRetry(lane) || lane.backpressured) consumer.pause(partitions);
    else consumer.resume(partitions);
  }

  /** Pauses the partition while its lane holds as much as it may, and resumes it after. */
  function relieve(lane: Lane): void {
    const full = lane.waiting.length > 1 || (lane.waiting[0]?.records.length ?? 0) >= MERGED_BATCH_RECORDS;
    if (full === lane.backpressured) return;
    lane.backpressured = full;
    pauseOrResume(lane);
  }

  /** Drops what waits in the lane and reads the partition again from `offset`. */
  function rewind(lane: Lane, offset: number): void {
    lane.waiting = [];
    relieve(lane);
    if (isCurrent(lane)) consumer.seek({ topic: lane.topic, partition: lane.partition, offset: String(offset) });
  }

  function retryLater(lane: Lane, batch: FetchedBatch, err: Error, kind: TransientKind): void {
    const { topic, partition } = lane;
    const retry = lane.retry ?? { attempt: 0, timer: undefined, message: '' };
    retry.attempt += 1;
    retry.message = `${keyOf(topic, partition)}: ${err.message}`;
    lane.retry = retry;
    metrics.projectionRetries.inc({ topic, kind });
    if (isCurrent(lane)) metrics.partitionRetrying.set({ topic, partition: String(partition) }, 1);
    const delay = backoffMs(retry.attempt);
    log.warn(
      { err, topic, partition, attempt: retry.attempt, kind, retryInMs: delay },
      'batch failed; partition paused until the retry',
    );
    retry.timer = setTimeout(() => {
      // The retry stays on record (and readiness keeps naming it) until a batch succeeds.
      retry.timer = undefined;
      pauseOrResume(lane);
    }, delay);
    pauseOrResume(lane);
    rewind(lane, batch.fetchedOffset);
  }

  /**
   * Drops the batches waiting in every lane and undoes the pauses; returns when the batches
   * being applied have finished. On a new assignment, the lanes themselves go too.
   */
  function settleLanes({ forget }: { forget: boolean }): Promise<unknown> {
    const old = [...lanes.values()];
    if (forget) lanes = new Map();
    for (const lane of old) {
      lane.waiting = [];
      clearTimeout(lane.retry?.timer);
      if (waitingToRetry(lane) || lane.backpressured)
        consumer.resume([{ topic: lane.topic, partitions: [lane.partition] }]);
      if (lane.retry) lane.retry.timer = undefined;
      lane.backpressured = false;
    }
    return Promise.all(old.map((lane) => Promise.all([lane.draining, lane.inGroup])));
  }

  function observe(lane: Lane, batch: FetchedBatch, report: BatchReport, seconds: number): void {
    const { topic, partition } = lane;
    metrics.batchDuration.observe({ topic }, seconds);
    metrics.batchSize.observe({ topic }, batch.records.length);
    for (const c of report.counts)
      metrics.projectionEvents.inc({ projection: c.projection, event_type: c.eventType, outcome: c.outcome }, c.count);
    // A partition that moved to another member meanwhile is that member's to report.
    if (isCurrent(lane))
      for (const p of report.parked)
        metrics.parkedKeys.set({ projection: p.projection, topic, partition: String(partition) }, p.keys);
    for (const letter of report.deadLetters) {
      metrics.deadLetters.inc({ projection: letter.projection, topic, code: letter.code });
      log.error(
        {
          projection: letter.projection,
          topic,
          partition: letter.source.partition,
          offset: letter.source.offset,
          code: letter.code,
          reason: letter.message,
        },
        'record dead-lettered',
      );
    }
  }

  /**
   * The head batch of `first` and of as many other lanes as fit in MERGED_BATCH_RECORDS,
   * skipping lanes already in a group (their next batch must wait for the one being applied) and
   * lanes retrying a failure, which go alone: each failed try would roll the whole group back.
   * In (topic, partition) order, the order the group's transaction locks their offset rows in,
   * so that two groups never wait on each other.
   */
  function chooseGroup(first: Lane): Array<{ lane: Lane; batch: FetchedBatch }> {
    const group: Array<{ lane: Lane; batch: FetchedBatch }> = [];
    const alone = first.retry !== undefined;
    let records = 0;
    for (const lane of alone ? [first] : new Set([first, ...lanes.values()])) {
      const head = lane.waiting[0];
      if (!head || lane.inGroup || (lane !== first && lane.retry)) continue;
      if (group.length > 0 && records + head.records.length > MERGED_BATCH_RECORDS) continue;
      group.push({ lane, batch: head });
      records += head.records.length;
    }
    return group.sort((a, b) =>
      a.lane.topic === b.lane.topic ? a.lane.partition - b.lane.partition : a.lane.topic < b.lane.topic ? -1 : 1,
    );
  }

  function take(group: ReadonlyArray<{ lane: Lane; batch: FetchedBatch }>): void {
    for (const { lane } of group) lane.waiting.shift();
    for (const { lane } of group) relieve(lane);
  }

  async function applyGroup(group: ReadonlyArray<{ lane: Lane; batch: FetchedBatch }>): Promise<void> {
    const started = process.hrtime.bigint();
    metrics.groupSize.observe(group.length);
    const spans = group.map(({ batch }) => deps.tracing && startApplySpan(deps.tracing, batch, deps.groupId));
    const { results, groupFailure } = await sink.processGroup(
      group.map(({ lane, batch }) => ({ ...batch, continuesFrom: lane.continuesFrom })),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (groupFailure) {
      metrics.groupFallbacks.inc();
      log.warn(
        { err: groupFailure, partitions: group.map(({ lane }) => keyOf(lane.topic, lane.partition)) },
        'a group of batches failed together; each was applied alone',
      );
    }
    for (const [i, { lane, batch }] of group.entries()) {
      // Each lane on its own: one that cannot be settled must not leave the others' failures unhandled.
      try {
        settle(lane, batch, results[i]!, spans[i], seconds);
      } catch (err) {
        log.error({ err, topic: lane.topic, partition: lane.partition }, 'unexpected failure settling a batch');
      }
    }
  }

  function settle(lane: Lane, batch: FetchedBatch, result: GroupResult, span: Span | undefined, seconds: number): void {
    const { topic, partition } = lane;
    if (!result.ok) {
      const err = result.error;
      const failure = classify(err);
      if (span) endApplySpan(span, failure.kind === 'reposition' ? { kind: 'repositioned' } : { kind: 'failed', err });
      if (failure.kind === 'reposition') {
        log.warn(
          { topic, partition, fetched: batch.fetchedOffset, expected: failure.expected },
          'consumer is not at the stored offset; seeking to it',
        );
        lane.continuesFrom = undefined;
        rewind(lane, failure.expected);
      } else {
        // The sink dead-letters the values Postgres refuses; one it could not pin on a record is retried as Postgres's.
        retryLater(lane, batch, err, failure.kind === 'transient' ? failure.cause : 'database');
      }
      return;
    }
    const { report } = result;
    if (span) endApplySpan(span, { kind: 'applied', report });
    lane.continuesFrom = batch.nextOffset;
    if (lane.retry) {
      clearTimeout(lane.retry.timer);
      lane.retry = undefined;
      if (isCurrent(lane)) metrics.partitionRetrying.set({ topic, partition: String(partition) }, 0);
    }
    observe(lane, batch, report, seconds);
    if (isCurrent(lane)) offsetCopy.stored(topic, partition, batch.nextOffset);
  }

  function enqueue(lane: Lane, batch: FetchedBatch): void {
    const last = lane.waiting.at(-1);
    if (
      last &&
      last.nextOffset === batch.fetchedOffset &&
      last.records.length + batch.records.length <= MERGED_BATCH_RECORDS
    ) {
      lane.waiting[lane.waiting.length - 1] = {
        ...last,
        nextOffset: batch.nextOffset,
        records: [...last.records, ...batch.records],
      };
    } else {
      lane.waiting.push(batch);
    }
    relieve(lane);
    lane.draining ??= drain(lane);
  }

  /**
   * Applies the lane's waiting batches, each in a group with the head batches of other lanes
   * that wait meanwhile: under a steady stream, one transaction for many partitions' few records.
   */
  async function drain(lane: Lane): Promise<void> {
    let waitedBeside = false;
    while (lane.waiting.length > 0) {
      // Another lane's group holds this lane's head: the next batch waits for it.
      if (lane.inGroup) {
        await lane.inGroup;
        continue;
      }
      await slots.acquire();
      // kafkajs hands a fetch's batches over one by one, a few microtasks apart: a group
      // gathers them once they are all here.
      await new Promise(setImmediate);
      const group = chooseGroup(lane);
      const small = group.reduce((sum, { batch }) => sum + batch.records.length, 0) < CONCURRENT_GROUP_RECORDS;
      if (group.length === 0 || (small && applying.size > 0 && !waitedBeside)) {
        slots.release();
        // Once only: under a backlog elsewhere, groups are being applied all the time.
        if (group.length > 0) {
          waitedBeside = true;
          await Promise.race(applying);
        }
        continue;
      }
      waitedBeside = false;
      take(group);
      const applied: Promise<void> = applyGroup(group)
        .catch((err: unknown) =>
          log.error(
            { err, partitions: group.map(({ lane: l }) => keyOf(l.topic, l.partition)) },
            'unexpected failure applying a group of batches',
          ),
        )
        .finally(() => {
          for (const member of group) member.lane.inGroup = undefined;
          applying.delete(applied);
          slots.release();
        });
      applying.add(applied);
      for (const member of group) member.lane.inGroup = applied;
      await applied;
    }
    // In the same step as the last look at the queue: a batch enqueued after it starts a new drain.
    lane.draining = undefined;
  }

  function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    if (!running || !payload.isRunning() || payload.isStale()) return Promise.resolve();
    const lane = laneOf(topic, partition);
    // Fetched before a retry paused the partition: it is read again when the retry comes.
    if (waitingToRetry(lane)) return Promise.resolve();
    metrics.consumerLag.set({ topic, partition: String(partition) }, Number(batch.offsetLag()));
    // The fetch position moves on now; should the batch fail, the lane seeks back to it.
    payload.resolveOffset(batch.lastOffset());
    enqueue(lane, partitionBatch(batch));
    return Promise.resolve();
  }

  async function seekToStoredOffsets(assignment: Record<string, number[]>): Promise<void> {
    for (const [topic, partitions] of Object.entries(assignment)) {
      const offsets = await storedOffsets(
        deps.pool,
        deps.projections.filter((p) => p.topic === topic),
        topic,
      );
      for (const partition of partitions) {
        // A batch came meanwhile: the sink checks where it starts, and a seek now would only
        // make the consumer read it again. The seek is for partitions with nothing new to read.
        if (lanes.has(keyOf(topic, partition))) continue;
        consumer.seek({ topic, partition, offset: String(offsets.get(partition) ?? 0) });
      }
    }
  }

  /**
   * The per-partition gauges describe this member's assignment: on a new one, the series of
   * partitions that moved away would otherwise stay behind with their last values (a lag, a
   * retry, parked keys another member now reports). Lag and parked keys come back with each
   * partition's next batch; a retry with its next failure.
   */
  function forgetPartitionGauges(): void {
    metrics.consumerLag.reset();
    metrics.partitionRetrying.reset();
    metrics.parkedKeys.reset();
  }

  /**
   * Keys stay parked on a partition that has no new records, so its batches cannot be relied on
   * to report them: each assigned partition starts from a count of its parked keys (one query
   * per projection and assignment, never per batch). A partition that has a batch by then
   * reports its own, newer count.
   */
  async function reportParkedKeys(assignment: Record<string, number[]>): Promise<void> {
    const assigned = lanes;
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const projection of deps.projections.filter((p) => p.topic === topic)) {
        const counts = await parkedKeyCounts(deps.pool, projection, topic);
        if (lanes !== assigned) return;
        for (const partition of partitions) {
          if (lanes.has(keyOf(topic, partition))) continue;
          metrics.parkedKeys.set(
            { projection: projection.name, topic, partition: String(partition) },
            counts.get(partition) ?? 0,
          );
        }
      }
    }
  }

  return {
    problem() {
      if (!running) return 'consumer is not running';
      for (const lane of lanes.values()) if (lane.retry) return lane.retry.message;
      return undefined;
    },
    async start() {
      await deps.deadLetters.connect();
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        void settleLanes({ forget: true });
        offsetCopy.forgetAssignment();
        forgetPartitionGauges();
        log.info({ assignment: payload.memberAssignment }, 'partitions assigned');
        void seekToStoredOffsets(payload.memberAssignment).catch((err: unknown) =>
          log.warn({ err }, 'could not seek to the stored offsets; the sink refuses a misplaced batch anyway'),
        );
        void reportParkedKeys(payload.memberAssignment).catch((err: unknown) =>
          log.warn({ err }, 'could not count the parked keys; each partition reports them with its next batch'),
        );
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        metrics.consumerCrashes.inc();
        log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
        if (payload.restart) return;
        running = false;
        deps.onFatal(payload.error);
      });
      running = true;
      offsetCopy.start();
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch,
      });
    },
    async stop() {
      running = false;
      // The batches being applied finish and commit their offsets while the consumer still can.
      await settleLanes({ forget: false });
      await offsetCopy.stop();
      await consumer.disconnect();
      await deps.deadLetters.disconnect();
    },
  };
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

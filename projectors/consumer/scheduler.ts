import { classify, type TransientKind } from '../../shared/failures.ts';
import type { BatchReport, FetchedBatch, GroupResult, PartitionBatch } from '../pipeline/batch.ts';

export interface SchedulerLimits {
  /** Groups applied at once. */
  concurrentGroups: number;
  /**
   * Records a lane merges contiguous fetches into while they wait; a lane holding this many, or
   * a batch it cannot merge, pauses its partition until it drains. Also the most records a group
   * of several partitions' batches takes into one transaction.
   */
  mergedBatchRecords: number;
  /** A group of fewer records waits once for a group being applied to end instead of starting beside it. */
  concurrentGroupRecords: number;
  /** Delay before retry `attempt` (1, 2, ...) of a partition whose batch failed. */
  backoffMs(attempt: number): number;
}

/** What the scheduler asks of the consumer; the adapter carries these out in order. */
export type Effect =
  | { kind: 'apply'; group: number; batches: PartitionBatch[] }
  /** Call `gathered()` once the batches of the fetch being handed over are all here (on the next turn). */
  | { kind: 'gather' }
  | { kind: 'pause' | 'resume'; topic: string; partition: number }
  | { kind: 'seek'; topic: string; partition: number; offset: number }
  /** Call `retryDue(topic, partition)` after `delayMs`. */
  | { kind: 'retry-timer'; topic: string; partition: number; delayMs: number }
  | { kind: 'cancel-retry-timer'; topic: string; partition: number }
  /** Postgres stored the partition's next offset: copy it to Kafka. */
  | { kind: 'stored'; topic: string; partition: number; nextOffset: number };

/** What became of one batch of a group that ended. */
export type Step =
  | { kind: 'applied'; report: BatchReport; /** The partition was retrying a failure until now. */ recovered: boolean }
  | { kind: 'repositioned'; expected: number }
  | { kind: 'retrying'; error: Error; cause: TransientKind; attempt: number; delayMs: number };

export interface Settled {
  batch: FetchedBatch;
  step: Step;
  /** Whether the partition is still this member's: one that moved away is its new owner's to report. */
  current: boolean;
}

/**
 * What this member knows of one assigned partition. Its batches are applied one after another;
 * the waiting ones are dropped whenever the partition is read again from elsewhere (a failure, a
 * seek, a new assignment), so that nothing fetched before is applied after.
 */
interface Lane {
  topic: string;
  partition: number;
  key: string;
  /** Fetched and not yet applied, in log order. */
  waiting: FetchedBatch[];
  /** The group being applied that holds this lane's head batch; a lane is in one group at a time. */
  group: number | undefined;
  /**
   * The next offset this member stored for the partition and has been reading on from since:
   * undefined until a batch started exactly at the stored offset (see PartitionBatch).
   */
  continuesFrom: number | undefined;
  /** `paused` until its timer calls `retryDue`; the failure stays on record until a batch succeeds. */
  retry: { attempt: number; message: string; paused: boolean } | undefined;
  backpressured: boolean;
  /** The small-group rule's state: a lane defers a small group once, until some group ends. */
  beside: 'free' | 'deferred' | 'waited';
}

interface Member {
  lane: Lane;
  batch: PartitionBatch;
}

/**
 * Decides, without I/O, how fetched partition batches are applied: a lane per partition, whose
 * contiguous fetches merge while they wait; groups of several lanes' head batches in one
 * transaction, at most `concurrentGroups` at once; a partition paused while its lane is full or
 * while it waits to retry a failed batch; seeks back after a failure or a refused position; and
 * lanes dropped on a new assignment.
 *
 * A small group waits for one being applied to end instead of starting beside it: under a
 * steady stream, groups side by side each pay a transaction's round trips for a handful of
 * records, while the group that waits takes along what arrived meanwhile.
 */
export class Scheduler {
  private lanes = new Map<string, Lane>();
  private readonly groups = new Map<number, Member[]>();
  private lastGroup = 0;
  private assignments = 0;
  private gathering = false;
  private stopping = false;

  constructor(private readonly limits: SchedulerLimits) {}

  /** Whether a batch of the partition is wanted now: not while it waits to retry, nor once stopping. */
  accepts(topic: string, partition: number): boolean {
    return !this.stopping && this.lanes.get(keyOf(topic, partition))?.retry?.paused !== true;
  }

  fetched(batch: FetchedBatch): Effect[] {
    if (!this.accepts(batch.topic, batch.partition)) return [];
    const lane = this.laneOf(batch.topic, batch.partition);
    enqueue(lane, batch, this.limits.mergedBatchRecords);
    return [...this.relieve(lane), ...this.gather()];
  }

  gathered(): Effect[] {
    this.gathering = false;
    const effects: Effect[] = [];
    for (const first of [...this.lanes.values()]) {
      if (this.stopping || this.groups.size >= this.limits.concurrentGroups) break;
      if (first.waiting.length === 0 || first.group !== undefined || first.beside === 'deferred') continue;
      const members = this.membersWith(first);
      const records = members.reduce((sum, lane) => sum + lane.waiting[0]!.records.length, 0);
      if (records < this.limits.concurrentGroupRecords && this.groups.size > 0 && first.beside === 'free') {
        first.beside = 'deferred';
        continue;
      }
      first.beside = 'free';
      effects.push(...this.start(members));
    }
    return effects;
  }

  /** The group's batches ended with `results`, in the order of its `apply` effect. */
  settled(group: number, results: readonly GroupResult[]): { settled: Settled[]; effects: Effect[] } {
    const members = this.groups.get(group) ?? [];
    this.groups.delete(group);
    for (const lane of this.lanes.values()) if (lane.beside === 'deferred') lane.beside = 'waited';
    const effects: Effect[] = [];
    const settled = members.map((member, i) => {
      member.lane.group = undefined;
      const result = results[i]!;
      return result.ok ? this.applied(member, result.report, effects) : this.failed(member, result.error, effects);
    });
    // A lane with nothing left has had its turn: its next small group waits once again.
    for (const { lane } of members) if (lane.waiting.length === 0) lane.beside = 'free';
    effects.push(...this.gather());
    return { settled, effects };
  }

  retryDue(topic: string, partition: number): Effect[] {
    const lane = this.lanes.get(keyOf(topic, partition));
    if (!lane?.retry?.paused) return [];
    lane.retry.paused = false;
    return this.pauseOrResume(lane);
  }

  /** The group handed out a new assignment: every lane goes, with what it waits for. */
  assigned(): Effect[] {
    const effects = this.dropWaiting();
    this.lanes = new Map();
    this.assignments += 1;
    return effects;
  }

  /** Nothing more starts; what waits is dropped and the partitions are resumed. */
  stop(): Effect[] {
    const effects = this.dropWaiting();
    this.stopping = true;
    return effects;
  }

  /** Whether the current assignment has seen a batch of the partition. */
  hasLane(topic: string, partition: number): boolean {
    return this.lanes.has(keyOf(topic, partition));
  }

  /** Counts assignments: work begun for one is dropped once this has moved on. */
  assignment(): number {
    return this.assignments;
  }

  /** The first failure a partition is retrying, or undefined when none is. */
  retrying(): string | undefined {
    for (const lane of this.lanes.values()) if (lane.retry) return lane.retry.message;
    return undefined;
  }

  private laneOf(topic: string, partition: number): Lane {
    const key = keyOf(topic, partition);
    let lane = this.lanes.get(key);
    if (!lane) this.lanes.set(key, (lane = newLane(topic, partition, key)));
    return lane;
  }

  private isCurrent(lane: Lane): boolean {
    return this.lanes.get(lane.key) === lane;
  }

  private pauseOrResume(lane: Lane): Effect[] {
    if (!this.isCurrent(lane) || this.stopping) return [];
    const paused = lane.retry?.paused === true || lane.backpressured;
    return [{ kind: paused ? 'pause' : 'resume', ...where(lane) }];
  }

  /** Pauses the partition while its lane holds as much as it may, and resumes it after. */
  private relieve(lane: Lane): Effect[] {
    const full = isFull(lane, this.limits.mergedBatchRecords);
    if (full === lane.backpressured) return [];
    lane.backpressured = full;
    return this.pauseOrResume(lane);
  }

  /** Drops what waits in the lane and reads the partition again from `offset`. */
  private rewind(lane: Lane, offset: number): Effect[] {
    lane.waiting = [];
    lane.backpressured = false;
    const effects = this.pauseOrResume(lane);
    if (this.isCurrent(lane) && !this.stopping) effects.push({ kind: 'seek', ...where(lane), offset });
    return effects;
  }

  private gather(): Effect[] {
    if (this.gathering || this.stopping) return [];
    this.gathering = true;
    return [{ kind: 'gather' }];
  }

  /**
   * The head batch of `first` and of as many other lanes as fit in `mergedBatchRecords`,
   * skipping lanes already in a group and lanes retrying a failure, which go alone: each failed
   * try would roll the whole group back. In (topic, partition) order, the order the group's
   * transaction locks their offset rows in, so that two groups never wait on each other.
   */
  private membersWith(first: Lane): Lane[] {
    const members: Lane[] = [];
    let records = 0;
    for (const lane of first.retry ? [first] : new Set([first, ...this.lanes.values()])) {
      const head = lane.waiting[0];
      if (!head || lane.group !== undefined || (lane !== first && lane.retry)) continue;
      if (members.length > 0 && records + head.records.length > this.limits.mergedBatchRecords) continue;
      members.push(lane);
      records += head.records.length;
    }
    return members.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
  }

  private start(lanes: readonly Lane[]): Effect[] {
    const group = ++this.lastGroup;
    const effects: Effect[] = [];
    const members = lanes.map((lane): Member => {
      const batch = { ...lane.waiting.shift()!, continuesFrom: lane.continuesFrom };
      lane.group = group;
      // To the back of the line: the lanes that waited longest lead the next groups.
      this.lanes.delete(lane.key);
      this.lanes.set(lane.key, lane);
      effects.push(...this.relieve(lane));
      return { lane, batch };
    });
    this.groups.set(group, members);
    effects.push({ kind: 'apply', group, batches: members.map((m) => m.batch) });
    return effects;
  }

  private applied({ lane, batch }: Member, report: BatchReport, effects: Effect[]): Settled {
    const current = this.isCurrent(lane);
    const recovered = lane.retry !== undefined;
    lane.retry = undefined;
    lane.continuesFrom = batch.nextOffset;
    if (current) effects.push({ kind: 'stored', ...where(lane), nextOffset: batch.nextOffset });
    return { batch, current, step: { kind: 'applied', report, recovered } };
  }

  private failed({ lane, batch }: Member, error: Error, effects: Effect[]): Settled {
    const current = this.isCurrent(lane);
    const failure = classify(error);
    if (failure.kind === 'reposition') {
      lane.continuesFrom = undefined;
      effects.push(...this.rewind(lane, failure.expected));
      return { batch, current, step: { kind: 'repositioned', expected: failure.expected } };
    }
    const attempt = (lane.retry?.attempt ?? 0) + 1;
    const delayMs = this.limits.backoffMs(attempt);
    const paused = current && !this.stopping;
    lane.retry = { attempt, message: `${lane.key}: ${error.message}`, paused };
    if (paused) effects.push({ kind: 'retry-timer', ...where(lane), delayMs });
    effects.push(...this.rewind(lane, batch.fetchedOffset));
    // The sink dead-letters the values Postgres refuses; one it could not pin on a record is retried as Postgres's.
    const cause = failure.kind === 'transient' ? failure.cause : 'database';
    return { batch, current, step: { kind: 'retrying', error, cause, attempt, delayMs } };
  }

  /** Drops what every lane waits for and undoes the pauses and retry timers. */
  private dropWaiting(): Effect[] {
    const effects: Effect[] = [];
    for (const lane of this.lanes.values()) {
      lane.waiting = [];
      if (lane.retry?.paused) effects.push({ kind: 'cancel-retry-timer', ...where(lane) });
      if (lane.retry?.paused || lane.backpressured) effects.push({ kind: 'resume', ...where(lane) });
      if (lane.retry) lane.retry.paused = false;
      lane.backpressured = false;
    }
    return effects;
  }
}

const keyOf = (topic: string, partition: number) => `${topic}/${partition}`;
const where = ({ topic, partition }: Lane) => ({ topic, partition });

function newLane(topic: string, partition: number, key: string): Lane {
  const fresh = { waiting: [], group: undefined, continuesFrom: undefined, retry: undefined };
  return { topic, partition, key, ...fresh, backpressured: false, beside: 'free' };
}

/** A lane is full when a second batch waits, or its one batch holds the most it may. */
function isFull(lane: Lane, cap: number): boolean {
  return lane.waiting.length > 1 || (lane.waiting[0]?.records.length ?? 0) >= cap;
}

/** Queues a fetched batch, merged into the last one waiting when it continues it and both fit under `cap`. */
function enqueue(lane: Lane, batch: FetchedBatch, cap: number): void {
  const last = lane.waiting.at(-1);
  const contiguous = last !== undefined && last.nextOffset === batch.fetchedOffset;
  if (contiguous && last.records.length + batch.records.length <= cap)
    lane.waiting[lane.waiting.length - 1] = {
      ...last,
      nextOffset: batch.nextOffset,
      records: [...last.records, ...batch.records],
    };
  else lane.waiting.push(batch);
}

import type { EventType } from '../../shared/events/types.ts';
import type { Outcome } from './bookkeeping.ts';
import type { DeadLetter, SourceRecord } from './dead-letters.ts';

/** One fetch's records of one partition, and where in the log they sit. */
export interface FetchedBatch {
  topic: string;
  partition: number;
  /** The offset the consumer asked for; records before it were read by an earlier batch. */
  fetchedOffset: number;
  /** The offset after the batch, control and aborted records included: where the next read starts. */
  nextOffset: number;
  records: readonly SourceRecord[];
}

/**
 * A fetched batch, and what its reader knows of the partition: the batch must start at the
 * stored offset, since a batch that starts elsewhere (Kafka's committed offset, behind after a
 * crash or ahead of a fresh database) would skip or repeat events. One exception: a reader that
 * stored `continuesFrom` itself and has read the log on from there, batch after batch, may start
 * later, because what lies between was records with nothing to apply (transaction markers,
 * aborted or compacted records, which kafkajs reads past without a batch). If the stored offset
 * is no longer `continuesFrom`, another member moved it: the batch is refused too.
 */
export interface PartitionBatch extends FetchedBatch {
  continuesFrom: number | undefined;
}

/** What became of one batch of a group: its report, or the error that stopped it. */
export type GroupResult = { ok: true; report: BatchReport } | { ok: false; error: Error };

export interface GroupOutcome {
  /** By batch, in the group's order. */
  results: GroupResult[];
  /** Why the group's one transaction failed, when its batches were then applied alone. */
  groupFailure?: Error;
}

/** What one batch did, per projection, event type and outcome (plus duplicates skipped). */
export interface BatchReport {
  counts: Array<{
    projection: string;
    eventType: EventType | 'unknown';
    outcome: Outcome['status'] | 'duplicate';
    count: number;
  }>;
  deadLetters: DeadLetter[];
  /** Per projection, the keys parked on the batch's partition once the batch is applied. */
  parked: Array<{ projection: string; keys: number }>;
}

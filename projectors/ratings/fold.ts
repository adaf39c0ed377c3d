import type { RatingEvent } from '../../shared/events/types.ts';
import type { FoldResult } from '../projection.ts';

export interface RatingRow {
  recordType: string;
  recordId: string;
  userId: string;
  value: number;
  updatedAt: Date;
}

export interface RatingId {
  recordType: string;
  recordId: string;
  userId: string;
}

/** How one batch moves a record's aggregate: added to the stored counts, never recomputed. */
export interface AggregateDelta {
  recordType: string;
  recordId: string;
  count: number;
  sum: number;
  /** Change of the number of 1..5 ratings, index 0 for value 1. */
  distribution: [number, number, number, number, number];
}

export interface RatingChanges {
  /** Ratings the read model does not have yet. */
  inserts: RatingRow[];
  /** Ratings the read model has, with their new value. */
  updates: RatingRow[];
  deletes: RatingId[];
  deltas: AggregateDelta[];
}

/** Each touched rating's value before the batch, by ratingKey; absent when there was none. */
export type RatingsBefore = ReadonlyMap<string, number>;

export const ratingKey = (id: RatingId) => `${id.recordType}\u0000${id.recordId}\u0000${id.userId}`;

/**
 * Folds a batch of rating events into the rows to insert, update or delete and the aggregate
 * deltas. Only each rating's final state in the batch matters: a user who re-rates or deletes
 * within one batch counts once. A delete of a rating that does not exist changes nothing.
 */
export function foldRatings(events: readonly RatingEvent[], before: RatingsBefore): FoldResult<RatingChanges> {
  const last = new Map<string, RatingEvent>();
  for (const event of events) last.set(ratingKey(event), event);

  const changes: RatingChanges = { inserts: [], updates: [], deletes: [], deltas: [] };
  const deltas = new Map<string, AggregateDelta>();
  for (const [key, event] of last) {
    const previous = before.get(key);
    const value = event.type === 'RatingSubmitted' ? event.value : undefined;
    const { recordType, recordId, userId } = event;
    if (value !== undefined) {
      (previous === undefined ? changes.inserts : changes.updates).push({
        recordType,
        recordId,
        userId,
        value,
        updatedAt: event.envelope.occurredAt,
      });
    } else if (previous !== undefined) {
      changes.deletes.push({ recordType, recordId, userId });
    }
    if (previous === value) continue;
    const recordKey = `${recordType}\u0000${recordId}`;
    let delta = deltas.get(recordKey);
    if (!delta) {
      delta = { recordType, recordId, count: 0, sum: 0, distribution: [0, 0, 0, 0, 0] };
      deltas.set(recordKey, delta);
    }
    if (previous !== undefined) {
      delta.count -= 1;
      delta.sum -= previous;
      delta.distribution[previous - 1]! -= 1;
    }
    if (value !== undefined) {
      delta.count += 1;
      delta.sum += value;
      delta.distribution[value - 1]! += 1;
    }
  }
  changes.deltas = [...deltas.values()];
  return { changes, rejected: new Map() };
}

import type { RatingEvent } from '../../shared/events/types.ts';

export interface RatingRow {
  recordType: string;
  recordId: string;
  userId: string;
  value: number;
  updatedAt: Date;
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

export const ratingKey = (recordType: string, recordId: string, userId: string) => `${recordType}\u0000${recordId}\u0000${userId}`;

/**
 * Folds a batch of rating events into the rows to write and the aggregate deltas, given each
 * touched rating's value before the batch. Only a rating's final value in the batch matters,
 * so a user re-rating within one batch counts once.
 */
export function foldRatings(before: ReadonlyMap<string, number>, events: readonly RatingEvent[]): { rows: RatingRow[]; deltas: AggregateDelta[] } {
  const latest = new Map<string, RatingRow>();
  for (const event of events) {
    const row = {
      recordType: event.recordType,
      recordId: event.recordId,
      userId: event.userId,
      value: event.value,
      updatedAt: event.envelope.occurredAt,
    };
    latest.set(ratingKey(row.recordType, row.recordId, row.userId), row);
  }

  const deltas = new Map<string, AggregateDelta>();
  for (const [key, row] of latest) {
    const previous = before.get(key);
    if (previous === row.value) continue;
    const recordKey = `${row.recordType}\u0000${row.recordId}`;
    let delta = deltas.get(recordKey);
    if (!delta) {
      delta = { recordType: row.recordType, recordId: row.recordId, count: 0, sum: 0, distribution: [0, 0, 0, 0, 0] };
      deltas.set(recordKey, delta);
    }
    if (previous !== undefined) {
      delta.count -= 1;
      delta.sum -= previous;
      delta.distribution[previous - 1]! -= 1;
    }
    delta.count += 1;
    delta.sum += row.value;
    delta.distribution[row.value - 1]! += 1;
  }
  return { rows: [...latest.values()], deltas: [...deltas.values()] };
}

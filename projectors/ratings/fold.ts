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
  upserts: RatingRow[];
  deletes: RatingId[];
  deltas: AggregateDelta[];
}

/** Each touched rating's value before the batch, by ratingKey; absent when there was none. */
export type RatingsBefore = ReadonlyMap<string, number>;

export const ratingKey = (id: RatingId) => `${id.recordType}\u0000${id.recordId}\u0000${id.userId}`;

/**
 * Folds a batch of rating events into the rows to write or delete and the aggregate deltas.
 * Only each rating's final state in the batch matters: a user who re-rates or deletes within one
 * batch counts once. A delete of a rating that does not exist changes nothing.
 */
export function foldRatings(events: readonly RatingEvent[], before: RatingsBefore): FoldResult<RatingChanges> {
  const final = new Map<string, { id: RatingId; row: RatingRow | null }>();
  for (const event of events) {
    const id = { recordType: event.recordType, recordId: event.recordId, userId: event.userId };
    const row = event.type === 'RatingSubmitted' ? { ...id, value: event.value, updatedAt: event.envelope.occurredAt } : null;
    final.set(ratingKey(id), { id, row });
  }

  const changes: RatingChanges = { upserts: [], deletes: [], deltas: [] };
  const deltas = new Map<string, AggregateDelta>();
  const deltaOf = (id: RatingId) => {
    const recordKey = `${id.recordType}\u0000${id.recordId}`;
    let delta = deltas.get(recordKey);
    if (!delta) {
      delta = { recordType: id.recordType, recordId: id.recordId, count: 0, sum: 0, distribution: [0, 0, 0, 0, 0] };
      deltas.set(recordKey, delta);
    }
    return delta;
  };
  for (const [key, { id, row }] of final) {
    const previous = before.get(key);
    if (row) changes.upserts.push(row);
    else if (previous !== undefined) changes.deletes.push(id);
    if (previous === (row?.value ?? undefined)) continue;
    const delta = deltaOf(id);
    if (previous !== undefined) {
      delta.count -= 1;
      delta.sum -= previous;
      delta.distribution[previous - 1]! -= 1;
    }
    if (row) {
      delta.count += 1;
      delta.sum += row.value;
      delta.distribution[row.value - 1]! += 1;
    }
  }
  changes.deltas = [...deltas.values()];
  return { changes, rejected: new Map() };
}

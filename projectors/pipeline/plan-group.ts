import type { EventType } from '../../shared/events/types.ts';
import type { Projection } from '../projection.ts';
import type { PartitionClaim } from './bookkeeping.ts';
import type { LoadedGroup } from './load.ts';
import { planBatch, type LogRecord } from './plan.ts';
import { isRegisteredCopy } from './redrive-copies.ts';
import type { PlannedBatch } from './settle.ts';

/** What one projection meets in a group: its records of each batch, and what recording them takes. */
export interface Arrivals {
  projection: Projection;
  claimed: ReadonlyMap<number, PartitionClaim>;
  /** The records of the projection not yet applied, by the batch's place in the group. */
  records: Map<number, LogRecord[]>;
  /** Events copied by a redrive: what became of them before is forgotten, so that they are decided again. */
  reopen: string[];
  /** The events it handles, to record. */
  events: Array<{ eventId: string; partition: number; offset: number }>;
  /** Each partition's next offset once the group is applied. */
  moves: Array<{ partition: number; nextOffset: number }>;
}

/** Picks out, for one projection, its records of every batch of its topic in the group. Pure. */
export function arrivalsOf(
  projection: Projection,
  claimed: ReadonlyMap<number, PartitionClaim>,
  group: LoadedGroup,
): Arrivals {
  const handled = new Set<EventType>(projection.handles);
  const arrivals: Arrivals = { projection, claimed, records: new Map(), reopen: [], events: [], moves: [] };
  for (const [i, { batch, records, copies, redrives }] of group.batches.entries()) {
    if (batch.topic !== projection.topic) continue;
    arrivals.moves.push({ partition: batch.partition, nextOffset: batch.nextOffset });
    const { next } = claimed.get(batch.partition)!;
    const copied = (r: LogRecord) => isRegisteredCopy(r, projection.name, copies, redrives);
    const mine = records
      .filter((r) => r.offset >= next)
      .map((r) => (copies.releasing.has(r.offset) && copied(r) ? { ...r, releasesKey: true } : r));
    for (const r of mine) {
      if (!r.result.ok) continue;
      const eventId = r.result.event.envelope.eventId;
      // Dead-lettered or parked before, a copied event is decided again; one applied before stays a duplicate.
      if (copied(r)) arrivals.reopen.push(eventId);
      if (handled.has(r.result.event.type))
        arrivals.events.push({ eventId, partition: batch.partition, offset: r.offset });
    }
    arrivals.records.set(i, mine);
  }
  return arrivals;
}

/**
 * Plans every batch of the group for every projection, given the ids each projection had seen
 * before the group (by the place of its arrivals). An event id met in an earlier batch of the
 * group counts as seen in the later ones, as it would had each batch been applied on its own. Pure.
 */
export function planGroup(
  group: LoadedGroup,
  arrivals: readonly Arrivals[],
  seenBefore: readonly Set<string>[],
): PlannedBatch[] {
  const planned = group.batches.map(({ batch, fresh, copies }): PlannedBatch => ({
    batch,
    fresh,
    redriveOf: copies.redriveOf,
    projections: [],
  }));
  const topicHandles = new Map<string, Set<EventType>>();
  for (const { projection } of arrivals)
    topicHandles.set(projection.topic, new Set([...(topicHandles.get(projection.topic) ?? []), ...projection.handles]));
  for (const [p, { projection, claimed, records: ofBatch }] of arrivals.entries()) {
    const handled = new Set<EventType>(projection.handles);
    const seen = seenBefore[p]!;
    for (const [i, records] of ofBatch) {
      const { batch, refused } = group.batches[i]!;
      const { parked } = claimed.get(batch.partition)!;
      const plan = planBatch({
        handles: projection.handles,
        topicHandles: topicHandles.get(batch.topic)!,
        records,
        parkedKeys: parked,
        seenEventIds: seen,
        refused,
      });
      for (const { result } of records)
        if (result.ok && handled.has(result.event.type)) seen.add(result.event.envelope.eventId);
      planned[i]!.projections.push({ projection, parked, mine: records, plan });
    }
  }
  return planned;
}

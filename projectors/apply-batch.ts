import { withTransaction, type Pool } from '../shared/db/pool.ts';
import type { CatalogueEvent } from '../shared/events/types.ts';
import { claimNextOffset, saveNextOffset } from './offsets.ts';
import type { Projection } from './projections.ts';

/**
 * The batch starts past the next offset the read model needs: the consumer was positioned from
 * somewhere other than Postgres (a fresh database, Kafka's committed offset racing our seek).
 * Applying it would skip events for good; the caller seeks back to `expected` instead.
 */
export class OffsetGapError extends Error {
  override name = 'OffsetGapError';
  constructor(
    readonly expected: number,
    readonly received: number,
  ) {
    super(`Batch starts at offset ${received}, but the read model needs ${expected} first`);
  }
}

export interface LoggedEvent {
  offset: number;
  event: CatalogueEvent;
}

/**
 * Applies one partition's batch to a projection in one transaction with its offset: claims the
 * stored next offset, applies only the events at or past it, stores the offset after the last.
 * A batch delivered again therefore changes nothing, and one that would skip events is refused
 * with an OffsetGapError. Returns how many events were applied.
 */
export async function applyBatch(pool: Pool, projection: Projection, partition: number, batch: readonly LoggedEvent[]): Promise<number> {
  const first = batch[0];
  const last = batch.at(-1);
  if (!first || !last) return 0;
  return withTransaction(pool, async (client) => {
    const next = await claimNextOffset(client, projection.name, projection.topic, partition);
    if (first.offset > next) throw new OffsetGapError(next, first.offset);
    const fresh = batch.filter((e) => e.offset >= next).map((e) => e.event);
    if (fresh.length === 0) return 0;
    await projection.apply(client, fresh);
    await saveNextOffset(client, projection.name, projection.topic, partition, last.offset + 1);
    return fresh.length;
  });
}

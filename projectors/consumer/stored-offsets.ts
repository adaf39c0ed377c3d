import { table, TABLES } from '../../shared/read-models.ts';
import type { Pool } from '../../shared/db/pool.ts';
import { type Projection } from '../projection.ts';

/**
 * Where reading `topic` must resume, by partition: the lowest next offset of the projections
 * that read it, so none of them misses an event (the others skip what they already have).
 */
export async function storedOffsets(
  pool: Pool,
  projections: readonly Projection[],
  topic: string,
): Promise<Map<number, number>> {
  const lowest = new Map<number, { offset: number; projections: number }>();
  for (const projection of projections) {
    const { rows } = await pool.query<{ partition: number; next_offset: number }>(
      `SELECT partition, next_offset FROM ${table(projection.schema, TABLES.offsets)} WHERE topic = $1`,
      [topic],
    );
    for (const row of rows) {
      const seen = lowest.get(row.partition);
      lowest.set(row.partition, {
        offset: Math.min(row.next_offset, seen?.offset ?? Infinity),
        projections: (seen?.projections ?? 0) + 1,
      });
    }
  }
  // A projection without a row for a partition has applied nothing of it: it needs offset 0.
  return new Map(
    [...lowest].map(([partition, { offset, projections: count }]) => [
      partition,
      count === projections.length ? offset : 0,
    ]),
  );
}

/** How many keys `projection` has parked on each partition of `topic` (partitions without any are absent). */
export async function parkedKeyCounts(pool: Pool, projection: Projection, topic: string): Promise<Map<number, number>> {
  const { rows } = await pool.query<{ partition: number; keys: number }>(
    `SELECT partition, count(*)::int AS keys FROM ${table(projection.schema, TABLES.parkedKeys)} WHERE topic = $1 GROUP BY partition`,
    [topic],
  );
  return new Map(rows.map((row) => [row.partition, row.keys]));
}

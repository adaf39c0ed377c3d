import type { PoolClient, Pool } from '../shared/db/pool.ts';

/**
 * Locks this partition's offset row for the transaction and returns the next offset to apply.
 * Creating the row and locking it in one statement means two instances racing for a partition
 * during a rebalance queue on the row instead of both applying the same events.
 */
export async function claimNextOffset(client: PoolClient, projection: string, topic: string, partition: number): Promise<number> {
  const { rows } = await client.query<{ next_offset: number }>({
    name: 'offsets-claim',
    text: `INSERT INTO projection_offsets AS o (projection, topic, partition, next_offset) VALUES ($1, $2, $3, 0)
           ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = o.next_offset
           RETURNING next_offset`,
    values: [projection, topic, partition],
  });
  return rows[0]!.next_offset;
}

export async function saveNextOffset(client: PoolClient, projection: string, topic: string, partition: number, nextOffset: number): Promise<void> {
  await client.query({
    name: 'offsets-save',
    text: `UPDATE projection_offsets SET next_offset = $4, updated_at = now()
           WHERE projection = $1 AND topic = $2 AND partition = $3`,
    values: [projection, topic, partition, nextOffset],
  });
}

/** Stored next offsets of one projection's topic, by partition. */
export async function storedOffsets(pool: Pool, projection: string, topic: string): Promise<Map<number, number>> {
  const { rows } = await pool.query<{ partition: number; next_offset: number }>(
    'SELECT partition, next_offset FROM projection_offsets WHERE projection = $1 AND topic = $2',
    [projection, topic],
  );
  return new Map(rows.map((r) => [r.partition, r.next_offset]));
}

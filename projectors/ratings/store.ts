import type { PoolClient } from '../../shared/db/pool.ts';
import type { RatingEvent } from '../../shared/events/types.ts';
import { foldRatings, ratingKey } from './fold.ts';

/** Applies a batch of rating events: current values in, rows and aggregate deltas out, three statements. */
export async function applyRatings(client: PoolClient, events: readonly RatingEvent[]): Promise<void> {
  const before = await currentValues(client, events);
  const { rows, deltas } = foldRatings(before, events);

  await client.query({
    name: 'ratings-upsert',
    text: `INSERT INTO ratings (record_type, record_id, user_id, value, updated_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::timestamptz[])
           ON CONFLICT (record_type, record_id, user_id)
           DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`,
    values: [
      rows.map((r) => r.recordType),
      rows.map((r) => r.recordId),
      rows.map((r) => r.userId),
      rows.map((r) => r.value),
      rows.map((r) => r.updatedAt),
    ],
  });

  if (deltas.length === 0) return;
  await client.query({
    name: 'rating-aggregates-add',
    text: `INSERT INTO rating_aggregates AS a (record_type, record_id, count, sum, count_1, count_2, count_3, count_4, count_5)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::int[], $6::int[], $7::int[], $8::int[], $9::int[])
           ON CONFLICT (record_type, record_id) DO UPDATE SET
             count = a.count + EXCLUDED.count, sum = a.sum + EXCLUDED.sum,
             count_1 = a.count_1 + EXCLUDED.count_1, count_2 = a.count_2 + EXCLUDED.count_2,
             count_3 = a.count_3 + EXCLUDED.count_3, count_4 = a.count_4 + EXCLUDED.count_4,
             count_5 = a.count_5 + EXCLUDED.count_5`,
    values: [
      deltas.map((d) => d.recordType),
      deltas.map((d) => d.recordId),
      deltas.map((d) => d.count),
      deltas.map((d) => d.sum),
      ...[0, 1, 2, 3, 4].map((i) => deltas.map((d) => d.distribution[i])),
    ],
  });
}

async function currentValues(client: PoolClient, events: readonly RatingEvent[]): Promise<Map<string, number>> {
  const keys = new Map<string, RatingEvent>();
  for (const e of events) keys.set(ratingKey(e.recordType, e.recordId, e.userId), e);
  const touched = [...keys.values()];
  const { rows } = await client.query<{ record_type: string; record_id: string; user_id: string; value: number }>({
    name: 'ratings-current',
    text: `SELECT r.record_type, r.record_id, r.user_id, r.value
           FROM unnest($1::text[], $2::text[], $3::text[]) AS k(record_type, record_id, user_id)
           JOIN ratings r USING (record_type, record_id, user_id)`,
    values: [touched.map((e) => e.recordType), touched.map((e) => e.recordId), touched.map((e) => e.userId)],
  });
  return new Map(rows.map((r) => [ratingKey(r.record_type, r.record_id, r.user_id), r.value]));
}

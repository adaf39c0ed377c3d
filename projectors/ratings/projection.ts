import type { RatingEvent } from '../../shared/events/types.ts';
import { defineProjection, table, type Projection, type Target } from '../projection.ts';
import { foldRatings, ratingKey, type RatingChanges, type RatingId, type RatingsBefore } from './fold.ts';

/** Each user's current rating per record, and per record the count, sum and 1..5 distribution. */
export function ratingsProjection(topic: string): Projection {
  return defineProjection<RatingEvent, RatingsBefore, RatingChanges>({
    name: 'ratings',
    schema: 'ratings',
    topic,
    handles: ['RatingSubmitted', 'RatingDeleted'],
    load: currentValues,
    fold: foldRatings,
    write,
  });
}

async function currentValues({ client, schema }: Target, events: readonly RatingEvent[]): Promise<RatingsBefore> {
  const touched = new Map<string, RatingId>();
  for (const e of events) touched.set(ratingKey(e), e);
  const ids = [...touched.values()];
  const { rows } = await client.query<{ record_type: string; record_id: string; user_id: string; value: number }>({
    name: `${schema}.ratings-current`,
    text: `SELECT r.record_type, r.record_id, r.user_id, r.value
           FROM unnest($1::text[], $2::text[], $3::text[]) AS k(record_type, record_id, user_id)
           JOIN ${table(schema, 'ratings')} r USING (record_type, record_id, user_id)`,
    values: [ids.map((e) => e.recordType), ids.map((e) => e.recordId), ids.map((e) => e.userId)],
  });
  return new Map(rows.map((r) => [ratingKey({ recordType: r.record_type, recordId: r.record_id, userId: r.user_id }), r.value]));
}

async function write({ client, schema }: Target, { upserts, deletes, deltas }: RatingChanges): Promise<void> {
  if (upserts.length > 0) {
    await client.query({
      name: `${schema}.ratings-upsert`,
      text: `INSERT INTO ${table(schema, 'ratings')} (record_type, record_id, user_id, value, updated_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::timestamptz[])
             ON CONFLICT (record_type, record_id, user_id)
             DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`,
      values: [
        upserts.map((r) => r.recordType),
        upserts.map((r) => r.recordId),
        upserts.map((r) => r.userId),
        upserts.map((r) => r.value),
        upserts.map((r) => r.updatedAt),
      ],
    });
  }
  if (deletes.length > 0) {
    await client.query({
      name: `${schema}.ratings-delete`,
      text: `DELETE FROM ${table(schema, 'ratings')} r
             USING unnest($1::text[], $2::text[], $3::text[]) AS k(record_type, record_id, user_id)
             WHERE (r.record_type, r.record_id, r.user_id) = (k.record_type, k.record_id, k.user_id)`,
      values: [deletes.map((d) => d.recordType), deletes.map((d) => d.recordId), deletes.map((d) => d.userId)],
    });
  }
  if (deltas.length === 0) return;
  await client.query({
    name: `${schema}.rating-aggregates-add`,
    text: `INSERT INTO ${table(schema, 'rating_aggregates')} AS a (record_type, record_id, count, sum, count_1, count_2, count_3, count_4, count_5)
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

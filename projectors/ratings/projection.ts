import { SCHEMAS, table, TABLES } from '../../shared/read-models.ts';
import { joinList, splitList } from '../../shared/db/lists.ts';
import type { RatingEvent } from '../../shared/events/types.ts';
import { defineProjection, type Projection, type Target } from '../projection.ts';
import {
  foldRatings,
  ratingKey,
  type RatingChanges,
  type RatingId,
  type RatingRow,
  type RatingsBefore,
} from './fold.ts';

/** Each user's current rating per record, and per record the count, sum and 1..5 distribution. */
export function ratingsProjection(topic: string): Projection {
  return defineProjection<RatingEvent, RatingsBefore, RatingChanges>({
    name: 'ratings',
    schema: SCHEMAS.ratings,
    topic,
    handles: ['RatingSubmitted', 'RatingDeleted'],
    load: currentValues,
    fold: foldRatings,
    write,
  });
}

/** The key columns of ratings as three list parameters, from `first` on. */
const idLists = (ids: readonly RatingId[]) => [
  joinList(ids.map((r) => r.recordType)),
  joinList(ids.map((r) => r.recordId)),
  joinList(ids.map((r) => r.userId)),
];
const idColumns = (first: number) =>
  `${splitList(first, 'text')}, ${splitList(first + 1, 'text')}, ${splitList(first + 2, 'text')}`;
/** Epoch milliseconds, exact (a float division by 1000 is not). */
const fromEpochMs = (column: string) => `'epoch'::timestamptz + ${column} * interval '1 millisecond'`;

async function currentValues({ client, schema }: Target, events: readonly RatingEvent[]): Promise<RatingsBefore> {
  const touched = new Map<string, RatingId>();
  for (const e of events) touched.set(ratingKey(e), e);
  const ids = [...touched.values()];
  // Rows come back by their place in the lists: numbers parse faster than the ids they stand for.
  const { rows } = await client.query<{ i: number; value: number }>({
    name: `${schema}.ratings-current`,
    text: `SELECT k.i::int AS i, r.value
           FROM unnest(${idColumns(1)}) WITH ORDINALITY AS k(record_type, record_id, user_id, i)
           JOIN ${table(schema, TABLES.ratings)} r USING (record_type, record_id, user_id)`,
    values: idLists(ids),
  });
  return new Map(rows.map((r) => [ratingKey(ids[r.i - 1]!), r.value]));
}

/**
 * Plain INSERTs and UPDATEs rather than one upsert: the fold knows which ratings exist, and an
 * upsert pays for a speculative insertion on every row. A rating inserted meanwhile by another
 * writer fails the batch with a unique violation, which is retried, and then found. All the
 * changes go in one statement, whose parts touch disjoint rows (a rating is inserted, updated or
 * deleted, never two of them): one round trip to Postgres rather than up to four.
 */
async function write({ client, schema }: Target, { inserts, updates, deletes, deltas }: RatingChanges): Promise<void> {
  if (inserts.length + updates.length + deletes.length + deltas.length === 0) return;
  const rowLists = (rows: readonly RatingRow[]) => [
    ...idLists(rows),
    joinList(rows.map((r) => r.value)),
    joinList(rows.map((r) => r.updatedAt.getTime())),
  ];
  const rowColumns = (first: number) =>
    `${idColumns(first)}, ${splitList(first + 3, 'smallint')}, ${splitList(first + 4, 'bigint')}`;
  await client.query({
    name: `${schema}.ratings-write`,
    text: `WITH inserted AS (
             INSERT INTO ${table(schema, TABLES.ratings)} (record_type, record_id, user_id, value, updated_at)
             SELECT k.record_type, k.record_id, k.user_id, k.value, ${fromEpochMs('k.at_ms')}
             FROM unnest(${rowColumns(1)}) AS k(record_type, record_id, user_id, value, at_ms)),
           updated AS (
             UPDATE ${table(schema, TABLES.ratings)} r SET value = k.value, updated_at = ${fromEpochMs('k.at_ms')}
             FROM unnest(${rowColumns(6)}) AS k(record_type, record_id, user_id, value, at_ms)
             WHERE (r.record_type, r.record_id, r.user_id) = (k.record_type, k.record_id, k.user_id)),
           deleted AS (
             DELETE FROM ${table(schema, TABLES.ratings)} r
             USING unnest(${idColumns(11)}) AS k(record_type, record_id, user_id)
             WHERE (r.record_type, r.record_id, r.user_id) = (k.record_type, k.record_id, k.user_id))
           INSERT INTO ${table(schema, TABLES.ratingAggregates)} AS a (record_type, record_id, count, sum, count_1, count_2, count_3, count_4, count_5)
           SELECT * FROM unnest(${splitList(14, 'text')}, ${splitList(15, 'text')}, ${splitList(16, 'int')}, ${splitList(17, 'bigint')},
                                ${[18, 19, 20, 21, 22].map((n) => splitList(n, 'int')).join(', ')})
           ON CONFLICT (record_type, record_id) DO UPDATE SET
             count = a.count + EXCLUDED.count, sum = a.sum + EXCLUDED.sum,
             count_1 = a.count_1 + EXCLUDED.count_1, count_2 = a.count_2 + EXCLUDED.count_2,
             count_3 = a.count_3 + EXCLUDED.count_3, count_4 = a.count_4 + EXCLUDED.count_4,
             count_5 = a.count_5 + EXCLUDED.count_5`,
    values: [
      ...rowLists(inserts),
      ...rowLists(updates),
      ...idLists(deletes),
      joinList(deltas.map((d) => d.recordType)),
      joinList(deltas.map((d) => d.recordId)),
      joinList(deltas.map((d) => d.count)),
      joinList(deltas.map((d) => d.sum)),
      ...[0, 1, 2, 3, 4].map((i) => joinList(deltas.map((d) => d.distribution[i]!))),
    ],
  });
}

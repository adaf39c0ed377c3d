import { joinList, splitList } from '../../shared/db/lists.ts';
import { LIVE, type OutcomeStatus, PROGRESS_CHANNEL, table, TABLES } from '../../shared/read-models.ts';
import type { Target } from '../projection.ts';

/**
 * The pipeline's own tables in a projection's schema: the next offset per partition, each
 * event's outcome, parked keys and dead letters. Keys are bytes in Kafka and bytea here; in
 * memory they are latin1 strings, which map every byte to one character and back.
 */

export interface Outcome {
  eventId: string;
  status: OutcomeStatus;
  reason: string | null;
  offset: number;
}

export interface ParkedKey {
  key: string;
  offset: number;
  reason: string;
}

export interface DeadLetterRow {
  offset: number;
  key: string | null;
  eventId: string | null;
  code: string;
  message: string;
  dlqTopic: string;
}

const keyBytes = (key: string) => Buffer.from(key, 'latin1');

/** Where a projection stands on one partition: the next offset to read, and the keys parked there. */
export interface PartitionClaim {
  next: number;
  parked: Set<string>;
}

/**
 * Locks the partitions' offset rows for the transaction (creating them at 0) and returns, by
 * partition, the next offset to read and the keys parked there. Two instances racing for a
 * partition during a rebalance queue on the row instead of both applying the same events. Rows
 * are locked in the order given: callers give partitions in ascending order, so that two
 * transactions never wait on each other.
 */
export async function claimPartitions(
  { client, schema }: Target,
  topic: string,
  partitions: readonly number[],
): Promise<Map<number, PartitionClaim>> {
  const { rows } = await client.query<{ partition: number; next_offset: number; parked: string[] }>({
    name: `${schema}.partition-claim`,
    text: `WITH claimed AS (
             INSERT INTO ${table(schema, TABLES.offsets)} AS o (topic, partition, next_offset)
             SELECT $1, p, 0 FROM unnest($2::int[]) WITH ORDINALITY AS c(p, i) ORDER BY i
             ON CONFLICT (topic, partition) DO UPDATE SET next_offset = o.next_offset
             RETURNING partition, next_offset)
           SELECT c.partition, c.next_offset,
                  ARRAY(SELECT encode(k.key, 'hex') FROM ${table(schema, TABLES.parkedKeys)} k WHERE k.topic = $1 AND k.partition = c.partition) AS parked
           FROM claimed c`,
    values: [topic, partitions],
  });
  return new Map(
    rows.map((r) => [
      r.partition,
      { next: r.next_offset, parked: new Set(r.parked.map((hex) => Buffer.from(hex, 'hex').toString('latin1'))) },
    ]),
  );
}

/**
 * Records `events` as applied and moves each partition's next offset, in one statement; returns
 * the ids that were seen before: an id that already had an outcome keeps it. The answer names
 * only those (almost always none), not the thousands recorded, which would cost both sides more
 * than the insert itself. The pipeline then corrects, with `settleOutcomes`, the few new ones
 * that were not applied after all (rejected, parked, dead-lettered), before the transaction commits.
 * The same statement announces the offsets it stored on PROGRESS_CHANNEL (a ProgressAnnouncement,
 * or an empty payload should it not fit in one notification: Postgres refuses one of its page
 * size less 192 bytes or more); Postgres sends it when the transaction commits, so that readers
 * learn the new offsets without reading them. It names the table it wrote, not only the schema:
 * a transaction that began before a rebuild's swap may still write the swapped-out tables.
 */
export async function recordEvents(
  { client, schema }: Target,
  topic: string,
  moves: ReadonlyArray<{ partition: number; nextOffset: number }>,
  events: ReadonlyArray<{ eventId: string; partition: number; offset: number }>,
): Promise<Set<string>> {
  const { rows } = await client.query<{ seen: string[] }>({
    name: `${schema}.record-events`,
    text: `WITH moved AS (
             UPDATE ${table(schema, TABLES.offsets)} o SET next_offset = GREATEST(o.next_offset, m.next_offset), updated_at = now()
             FROM unnest($2::int[], $3::bigint[]) AS m(partition, next_offset)
             WHERE o.topic = $1 AND o.partition = m.partition
             RETURNING o.tableoid, o.partition, o.next_offset),
           batch AS (SELECT * FROM unnest(${splitList(4, 'uuid')}, ${splitList(5, 'int')}, ${splitList(6, 'bigint')}) AS e(event_id, partition, log_offset)),
           recorded AS (
             INSERT INTO ${table(schema, TABLES.outcomes)} (event_id, status, topic, partition, "offset")
             SELECT event_id, 'applied', $1, partition, log_offset FROM batch
             ON CONFLICT (event_id) DO NOTHING
             RETURNING event_id),
           announcement AS (
             SELECT json_build_object('schema', $8::text, 'table', (array_agg(tableoid))[1]::text, 'topic', $1::text,
                                      'offsets', COALESCE(json_agg(json_build_array(partition, next_offset)), '[]'))::text AS payload
             FROM moved)
           SELECT ARRAY(SELECT DISTINCT event_id::text FROM batch WHERE event_id NOT IN (SELECT event_id FROM recorded)) AS seen,
                  pg_notify($7, (SELECT CASE WHEN octet_length(payload) < current_setting('block_size')::int - 192 THEN payload ELSE '' END FROM announcement)) AS announced`,
    values: [
      topic,
      moves.map((m) => m.partition),
      moves.map((m) => m.nextOffset),
      joinList(events.map((e) => e.eventId)),
      joinList(events.map((e) => e.partition)),
      joinList(events.map((e) => e.offset)),
      PROGRESS_CHANNEL,
      schema,
    ],
  });
  return new Set(rows[0]!.seen);
}

/**
 * Writes the outcomes that are not `applied`: over the provisional row `recordEvents` wrote for
 * the same record (same position), else as a new row, unless the event already has one.
 */
export async function settleOutcomes(
  { client, schema }: Target,
  topic: string,
  partition: number,
  outcomes: readonly Outcome[],
): Promise<void> {
  if (outcomes.length === 0) return;
  await client.query({
    name: `${schema}.settle-outcomes`,
    text: `INSERT INTO ${table(schema, TABLES.outcomes)} AS o (event_id, status, reason, topic, partition, "offset")
           SELECT s.event_id, s.status, s.reason, $1, $2, s.log_offset
           FROM unnest($3::uuid[], $4::text[], $5::text[], $6::bigint[]) AS s(event_id, status, reason, log_offset)
           ON CONFLICT (event_id) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason
           WHERE (o.topic, o.partition, o."offset") = (EXCLUDED.topic, EXCLUDED.partition, EXCLUDED."offset")`,
    values: [
      topic,
      partition,
      outcomes.map((o) => o.eventId),
      outcomes.map((o) => o.status),
      outcomes.map((o) => o.reason),
      outcomes.map((o) => o.offset),
    ],
  });
}

export async function parkKeys(
  { client, schema }: Target,
  topic: string,
  partition: number,
  keys: readonly ParkedKey[],
): Promise<void> {
  if (keys.length === 0) return;
  await client.query({
    name: `${schema}.park-keys`,
    text: `INSERT INTO ${table(schema, TABLES.parkedKeys)} (topic, key, partition, since_offset, reason)
           SELECT $1, k.key, $2, k.since_offset, k.reason FROM unnest($3::bytea[], $4::bigint[], $5::text[]) AS k(key, since_offset, reason)
           ON CONFLICT (topic, partition, key) DO NOTHING`,
    values: [topic, partition, keys.map((k) => keyBytes(k.key)), keys.map((k) => k.offset), keys.map((k) => k.reason)],
  });
}

export async function recordDeadLetters(
  { client, schema }: Target,
  topic: string,
  partition: number,
  letters: readonly DeadLetterRow[],
): Promise<void> {
  if (letters.length === 0) return;
  await client.query({
    name: `${schema}.dead-letters`,
    text: `INSERT INTO ${table(schema, TABLES.deadLetters)} (topic, partition, "offset", key, event_id, error_code, message, dlq_topic)
           SELECT $1, $2, d.log_offset, d.key, d.event_id, d.error_code, d.message, d.dlq_topic
           FROM unnest($3::bigint[], $4::bytea[], $5::uuid[], $6::text[], $7::text[], $8::text[])
             AS d(log_offset, key, event_id, error_code, message, dlq_topic)
           ON CONFLICT (topic, partition, "offset") DO NOTHING`,
    values: [
      topic,
      partition,
      letters.map((d) => d.offset),
      letters.map((d) => (d.key === null ? null : keyBytes(d.key))),
      letters.map((d) => d.eventId),
      letters.map((d) => d.code),
      letters.map((d) => d.message),
      letters.map((d) => d.dlqTopic),
    ],
  });
}

/** A redrive (operations.redrives) as the pipeline needs it: whose key, in which projection. */
export interface RegisteredRedrive {
  projection: string;
  key: string | null;
}

/** The redrives among `ids` registered for this partition, by id. */
export async function findRedrives(
  { client }: Target,
  topic: string,
  partition: number,
  ids: readonly string[],
): Promise<Map<string, RegisteredRedrive>> {
  if (ids.length === 0) return new Map();
  const { rows } = await client.query<{ redrive_id: string; projection: string; key: string | null }>({
    name: 'find-redrives',
    text: `SELECT redrive_id::text, projection, encode(key, 'hex') AS key FROM ${LIVE.redrives}
           WHERE redrive_id = ANY($1::uuid[]) AND topic = $2 AND partition = $3`,
    values: [ids, topic, partition],
  });
  return new Map(
    rows.map((r) => [
      r.redrive_id,
      { projection: r.projection, key: r.key === null ? null : Buffer.from(r.key, 'hex').toString('latin1') },
    ]),
  );
}

/** Forgets what became of re-driven events before (dead-lettered, parked), so that they are decided again; applied ones stay. */
export async function reopenOutcomes({ client, schema }: Target, eventIds: readonly string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await client.query({
    name: `${schema}.reopen-outcomes`,
    text: `DELETE FROM ${table(schema, TABLES.outcomes)} WHERE event_id = ANY($1::uuid[]) AND status IN ('dead_lettered', 'parked')`,
    values: [eventIds],
  });
}

export async function releaseKeys(
  { client, schema }: Target,
  topic: string,
  partition: number,
  keys: ReadonlySet<string>,
): Promise<void> {
  if (keys.size === 0) return;
  await client.query({
    name: `${schema}.release-keys`,
    text: `DELETE FROM ${table(schema, TABLES.parkedKeys)} WHERE topic = $1 AND partition = $2 AND key = ANY($3::bytea[])`,
    values: [topic, partition, [...keys].map(keyBytes)],
  });
}

/** Records what became of each redrive's first copy, once. */
export async function settleRedrives({ client }: Target, outcomes: ReadonlyMap<string, string>): Promise<void> {
  if (outcomes.size === 0) return;
  await client.query({
    name: 'settle-redrives',
    text: `UPDATE ${LIVE.redrives} r SET outcome = s.outcome, settled_at = now()
           FROM unnest($1::uuid[], $2::text[]) AS s(redrive_id, outcome)
           WHERE r.redrive_id = s.redrive_id AND r.outcome IS NULL`,
    values: [[...outcomes.keys()], [...outcomes.values()]],
  });
}

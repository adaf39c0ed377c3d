import { LIVE, table, TABLES } from '../../shared/read-models.ts';
import { randomUUID } from 'node:crypto';
import { Partitioners, type IHeaders, type Kafka, type Message } from 'kafkajs';
import type { Pool } from '../../shared/db/pool.ts';
import { DLQ_HEADERS, type SourceRecord } from '../pipeline/dead-letters.ts';
import { type Projection } from '../projection.ts';
import { readRange } from './read-record.ts';
import type { DeadLetterEntry } from './store.ts';

/**
 * What one redrive writes: copies of a dead-lettered record and of every later record of its
 * key on its partition up to the end of the log (the events parked behind it, any dead letter
 * among them, and those the projection has yet to read and will park), in log order, to the
 * same partition. The projection reads every original before the copies, so each is parked by
 * then and decided again at its copy.
 */
export interface RedrivePlan {
  letter: DeadLetterEntry;
  /** The records to copy, in log order; the dead letter first unless it is left behind. */
  records: SourceRecord[];
  /** The dead letter is given up on (it can never apply): only what its key parked is re-driven. */
  leavesDeadLetter: boolean;
}

/** A dead letter that is not re-driven, and why. */
export interface Skipped {
  letter: DeadLetterEntry;
  reason: string;
}

const OUR_HEADERS = new Set<string>(Object.values(DLQ_HEADERS));

/**
 * Which dead letters can be re-driven: each that parks its key (with the key's later records
 * after it) or has no key (alone). A dead letter of a key parked by an earlier one goes with
 * that one's redrive; one whose key is no longer parked is skipped, since applying it now could
 * put it after later events of its key.
 */
export async function planRedrives(
  kafka: Kafka,
  pool: Pool,
  letters: readonly DeadLetterEntry[],
  { leaveDeadLetters }: { leaveDeadLetters: boolean },
): Promise<{ plans: RedrivePlan[]; skipped: Skipped[] }> {
  const plans: RedrivePlan[] = [];
  const skipped: Skipped[] = [];
  const parking = new Set(
    letters.filter((l) => l.parksKey).map((l) => `${l.projection} ${l.topic} ${l.partition} ${l.key}`),
  );
  const done = new Map(
    (await findRedrives(pool))
      .filter((r) => r.outcome === 'applied' || r.outcome === 'rejected')
      .map((r) => [`${r.projection} ${r.topic} ${r.partition} ${r.deadLetterOffset}`, r]),
  );
  for (const letter of letters) {
    const earlier = done.get(`${letter.projection} ${letter.topic} ${letter.partition} ${letter.offset}`);
    if (earlier && !letter.parksKey) {
      skipped.push({ letter, reason: `re-driven already (${earlier.outcome!} by redrive ${earlier.id})` });
      continue;
    }
    if (letter.key !== null && !letter.parksKey) {
      const group = parking.has(`${letter.projection} ${letter.topic} ${letter.partition} ${letter.key}`);
      skipped.push({
        letter,
        reason: group
          ? 'goes with the redrive of the dead letter that parked its key'
          : 'its key is no longer parked: applied now, it could come after later events of its key',
      });
      continue;
    }
    const to = letter.key === null ? letter.offset + 1 : Number.MAX_SAFE_INTEGER;
    const records = await readRange(
      kafka,
      { topic: letter.topic, partition: letter.partition, from: letter.offset, to },
      (r) => r.offset === letter.offset || (letter.key !== null && r.key?.toString('latin1') === letter.key),
    );
    if (records[0]?.offset !== letter.offset)
      skipped.push({ letter, reason: 'the log no longer holds it (retention)' });
    else
      plans.push({
        letter,
        records: leaveDeadLetters ? records.slice(1) : records,
        leavesDeadLetter: leaveDeadLetters,
      });
  }
  return { plans, skipped };
}

/** A copy of a record for a redrive: its key, value and own headers, with the redrive's and the attempt count. */
export function redriveCopy(record: SourceRecord, redriveId: string, first: boolean): Message {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(record.headers))
    if (!OUR_HEADERS.has(name) && value !== undefined) headers[name] = value;
  const attempts = Number(record.headers[DLQ_HEADERS.attempt]?.toString());
  headers[DLQ_HEADERS.redrive] = redriveId;
  headers[DLQ_HEADERS.attempt] = String(Number.isInteger(attempts) && attempts > 0 ? attempts + 1 : 1);
  if (first) headers[DLQ_HEADERS.redriveReleases] = 'true';
  return { key: record.key, value: record.value, headers, partition: record.partition };
}

/**
 * Registers the redrive, then writes its copies in order (acks=all); the projection releases the
 * key when it reads the first. With nothing to copy (a dead letter left behind with nothing
 * parked after it), the key is released here. Returns the redrive's id.
 */
export async function executeRedrive(
  kafka: Kafka,
  pool: Pool,
  projection: Projection,
  plan: RedrivePlan,
  requestedBy: string,
): Promise<string> {
  const id = randomUUID();
  const { letter } = plan;
  const key = letter.key === null ? null : Buffer.from(letter.key, 'latin1');
  await pool.query(
    `INSERT INTO ${LIVE.redrives} (redrive_id, projection, topic, partition, key, dead_letter_offset, records, requested_by, outcome, settled_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $9::text IS NULL THEN NULL ELSE now() END)`,
    [
      id,
      letter.projection,
      letter.topic,
      letter.partition,
      plan.records[0]?.key ?? key,
      letter.offset,
      plan.records.length,
      requestedBy,
      plan.records.length === 0 ? 'released' : null,
    ],
  );
  if (plan.records.length === 0) {
    await pool.query(
      `DELETE FROM ${table(projection.schema, TABLES.parkedKeys)} WHERE topic = $1 AND partition = $2 AND key = $3 AND since_offset = $4`,
      [letter.topic, letter.partition, key, letter.offset],
    );
    return id;
  }
  // Every copy names its partition; the partitioner is only named to keep kafkajs from warning about its default.
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    await producer.send({
      topic: letter.topic,
      acks: -1,
      messages: plan.records.map((r, i) => redriveCopy(r, id, i === 0)),
    });
  } finally {
    await producer.disconnect();
  }
  return id;
}

export interface RedriveRecord {
  id: string;
  projection: string;
  topic: string;
  partition: number;
  key: string | null;
  deadLetterOffset: number;
  records: number;
  requestedBy: string;
  requestedAt: Date;
  outcome: string | null;
}

export async function findRedrives(pool: Pool, ids?: readonly string[]): Promise<RedriveRecord[]> {
  const { rows } = await pool.query<{
    redrive_id: string;
    projection: string;
    topic: string;
    partition: number;
    key: string | null;
    dead_letter_offset: number;
    records: number;
    requested_by: string;
    requested_at: Date;
    outcome: string | null;
  }>(
    `SELECT redrive_id::text, projection, topic, partition, encode(key, 'escape') AS key, dead_letter_offset, records, requested_by, requested_at, outcome
     FROM ${LIVE.redrives} WHERE $1::uuid[] IS NULL OR redrive_id = ANY($1) ORDER BY requested_at`,
    [ids ?? null],
  );
  return rows.map((r) => ({
    id: r.redrive_id,
    projection: r.projection,
    topic: r.topic,
    partition: r.partition,
    key: r.key,
    deadLetterOffset: r.dead_letter_offset,
    records: r.records,
    requestedBy: r.requested_by,
    requestedAt: r.requested_at,
    outcome: r.outcome,
  }));
}

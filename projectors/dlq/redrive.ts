import { randomUUID } from 'node:crypto';
import type { IHeaders, Kafka, Message } from 'kafkajs';
import type { Pool } from '../../shared/db/pool.ts';
import { DLQ_HEADERS, type SourceRecord } from '../pipeline/dead-letters.ts';
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
  records: SourceRecord[];
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
export async function planRedrives(kafka: Kafka, pool: Pool, letters: readonly DeadLetterEntry[]): Promise<{ plans: RedrivePlan[]; skipped: Skipped[] }> {
  const plans: RedrivePlan[] = [];
  const skipped: Skipped[] = [];
  const parking = new Set(letters.filter((l) => l.parksKey).map((l) => `${l.projection} ${l.topic} ${l.partition} ${l.key}`));
  const done = new Map((await findRedrives(pool)).filter((r) => r.outcome === 'applied' || r.outcome === 'rejected').map((r) => [`${r.projection} ${r.topic} ${r.partition} ${r.deadLetterOffset}`, r]));
  for (const letter of letters) {
    const earlier = done.get(`${letter.projection} ${letter.topic} ${letter.partition} ${letter.offset}`);
    if (earlier && !letter.parksKey) {
      skipped.push({ letter, reason: `re-driven already (${earlier.outcome!} by redrive ${earlier.id})` });
      continue;
    }
    if (letter.key !== null && !letter.parksKey) {
      const group = parking.has(`${letter.projection} ${letter.topic} ${letter.partition} ${letter.key}`);
      skipped.push({ letter, reason: group ? 'goes with the redrive of the dead letter that parked its key' : 'its key is no longer parked: applied now, it could come after later events of its key' });
      continue;
    }
    const to = letter.key === null ? letter.offset + 1 : Number.MAX_SAFE_INTEGER;
    const range = await readRange(kafka, { topic: letter.topic, partition: letter.partition, from: letter.offset, to });
    const records = range.filter((r) => r.offset === letter.offset || (letter.key !== null && r.key?.toString('latin1') === letter.key));
    if (records[0]?.offset !== letter.offset) skipped.push({ letter, reason: 'the log no longer holds it (retention)' });
    else plans.push({ letter, records });
  }
  return { plans, skipped };
}

/** A copy of a record for a redrive: its key, value and own headers, with the redrive's and the attempt count. */
export function redriveCopy(record: SourceRecord, redriveId: string, first: boolean): Message {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(record.headers)) if (!OUR_HEADERS.has(name) && value !== undefined) headers[name] = value;
  const attempts = Number(record.headers[DLQ_HEADERS.attempt]?.toString());
  headers[DLQ_HEADERS.redrive] = redriveId;
  headers[DLQ_HEADERS.attempt] = String(Number.isInteger(attempts) && attempts > 0 ? attempts + 1 : 1);
  if (first) headers[DLQ_HEADERS.redriveReleases] = 'true';
  return { key: record.key, value: record.value, headers, partition: record.partition };
}

/**
 * Registers the redrive, then writes its copies in order (acks=all); the projection releases the
 * key when it reads the first. Returns the redrive's id.
 */
export async function executeRedrive(kafka: Kafka, pool: Pool, plan: RedrivePlan, requestedBy: string): Promise<string> {
  const id = randomUUID();
  const { letter } = plan;
  await pool.query(
    `INSERT INTO operations.redrives (redrive_id, projection, topic, partition, key, dead_letter_offset, records, requested_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [id, letter.projection, letter.topic, letter.partition, plan.records[0]!.key, letter.offset, plan.records.length, requestedBy],
  );
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({ topic: letter.topic, acks: -1, messages: plan.records.map((r, i) => redriveCopy(r, id, i === 0)) });
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
     FROM operations.redrives WHERE $1::uuid[] IS NULL OR redrive_id = ANY($1) ORDER BY requested_at`,
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

import { table, TABLES } from '../../shared/read-models.ts';
import type { Pool } from '../../shared/db/pool.ts';
import type { DeadLetterRow } from '../pipeline/bookkeeping.ts';
import { type Projection } from '../projection.ts';

/** What `list` selects: every filter optional; times compare with when the record was dead-lettered. */
export interface DeadLetterFilter {
  code?: string;
  /** The record's key as text (keys here are movie ids). */
  key?: string;
  since?: Date;
  until?: Date;
}

/** A dead letter as the pipeline recorded it, with where and when. */
export interface DeadLetterEntry extends DeadLetterRow {
  projection: string;
  topic: string;
  partition: number;
  deadLetteredAt: Date;
  /** Its key is parked on its partition from it on: the key's later events wait for a redrive. */
  parksKey: boolean;
}

/** Dead letters of the projections, oldest first, as the pipeline recorded them at each source position. */
export async function findDeadLetters(
  pool: Pool,
  projections: readonly Projection[],
  filter: DeadLetterFilter,
): Promise<DeadLetterEntry[]> {
  const entries: DeadLetterEntry[] = [];
  for (const projection of projections) {
    const { rows } = await pool.query<{
      topic: string;
      partition: number;
      offset: number;
      key: string | null;
      event_id: string | null;
      error_code: string;
      message: string;
      dlq_topic: string;
      dead_lettered_at: Date;
      parks_key: boolean;
    }>(
      `SELECT d.topic, d.partition, d."offset", encode(d.key, 'escape') AS key, d.event_id::text, d.error_code, d.message, d.dlq_topic, d.dead_lettered_at,
              EXISTS (SELECT 1 FROM ${table(projection.schema, TABLES.parkedKeys)} p
                       WHERE p.topic = d.topic AND p.partition = d.partition AND p.key = d.key AND p.since_offset = d."offset") AS parks_key
       FROM ${table(projection.schema, TABLES.deadLetters)} d
       WHERE ($1::text IS NULL OR d.error_code = $1) AND ($2::text IS NULL OR d.key = convert_to($2, 'UTF8'))
         AND ($3::timestamptz IS NULL OR d.dead_lettered_at >= $3) AND ($4::timestamptz IS NULL OR d.dead_lettered_at < $4)
       ORDER BY d.dead_lettered_at, d.partition, d."offset"`,
      [filter.code ?? null, filter.key ?? null, filter.since ?? null, filter.until ?? null],
    );
    for (const r of rows) {
      entries.push({
        projection: projection.name,
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
        key: r.key,
        eventId: r.event_id,
        code: r.error_code,
        message: r.message,
        dlqTopic: r.dlq_topic,
        deadLetteredAt: r.dead_lettered_at,
        parksKey: r.parks_key,
      });
    }
  }
  return entries;
}

import { joinList, splitList } from '../../shared/db/lists.ts';
import type { Pool } from '../../shared/db/pool.ts';
import { SCHEMAS, table, TABLES, type OutcomeStatus } from '../../shared/read-models.ts';

/** Each projection's outcomes: an event is in one topic, read by one projection. */
const OUTCOMES = {
  movieDetails: table(SCHEMAS.movieDetails, TABLES.outcomes),
  ratings: table(SCHEMAS.ratings, TABLES.outcomes),
};

export type Outcome = { status: OutcomeStatus; reason: string | null };
export type CommandStatus = Outcome | { status: 'pending' } | { status: 'unknown' };

/** The most event ids one status request may ask about: a bulk command's answer, whole. */
export const MAX_STATUS_IDS = 1000;

/**
 * What became of events, from the outcomes their projections recorded. Each event is in one
 * topic, read by one projection, so an id has at most one outcome; absent: none recorded yet.
 */
export async function findOutcomes(pool: Pool, eventIds: readonly string[]): Promise<Map<string, Outcome>> {
  const { rows } = await pool.query<Outcome & { event_id: string }>({
    name: 'command-status',
    text: `SELECT event_id::text, status, reason FROM ${OUTCOMES.movieDetails} WHERE event_id = ANY(${splitList(1, 'uuid')})
           UNION ALL SELECT event_id::text, status, reason FROM ${OUTCOMES.ratings} WHERE event_id = ANY(${splitList(1, 'uuid')})`,
    values: [joinList(eventIds)],
  });
  return new Map(rows.map((r) => [r.event_id, { status: r.status, reason: r.reason }]));
}

/**
 * An event's status: its outcome; else `pending` when the command API answered the id (its
 * seal verifies), since it is in the log and not projected yet; else `unknown`.
 */
export function statusOf(outcome: Outcome | undefined, accepted: boolean): CommandStatus {
  if (outcome) return outcome;
  return accepted ? { status: 'pending' } : { status: 'unknown' };
}

import type { Pool } from '../../shared/db/pool.ts';

export type CommandStatus = { status: 'applied' | 'rejected' | 'dead_lettered' | 'parked'; reason: string | null } | { status: 'pending' };

/**
 * What became of an event, from the outcome its projection recorded. Each event is in one topic,
 * read by one projection; the first outcome found is its fate. Undefined: no outcome yet.
 */
export async function findOutcome(pool: Pool, eventId: string): Promise<CommandStatus | undefined> {
  const { rows } = await pool.query<{ status: 'applied' | 'rejected' | 'dead_lettered' | 'parked'; reason: string | null }>({
    name: 'command-status',
    text: `SELECT status, reason FROM movie_details.event_outcomes WHERE event_id = $1
           UNION ALL SELECT status, reason FROM ratings.event_outcomes WHERE event_id = $1 LIMIT 1`,
    values: [eventId],
  });
  return rows[0];
}

import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import type { Pool } from '../../shared/db/pool.ts';
import type { EventCodec } from '../../shared/events/codec.ts';
import type { RatingEvent } from '../../shared/events/types.ts';

/**
 * A stream of ratings with re-ratings and deletes, and its fold computed here, independently of
 * the projector's code: the read model must equal it whatever happened to the projector.
 */
export function ratingStream(count: number, movies: number, users: number, seed = 42): RatingEvent[] {
  let state = seed;
  const next = (n: number) => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state % n;
  };
  const rated = new Set<string>();
  const events: RatingEvent[] = [];
  for (let i = 0; i < count; i++) {
    const recordId = `m${next(movies)}`;
    const userId = `u${next(users)}`;
    const envelope = { eventId: randomUUID(), occurredAt: new Date(Date.UTC(2026, 0, 1) + i), principal: userId, correlationId: randomUUID() };
    const key = `${recordId}/${userId}`;
    if (rated.has(key) && next(5) === 0) {
      rated.delete(key);
      events.push({ type: 'RatingDeleted', envelope, recordType: 'movie', recordId, userId });
    } else {
      rated.add(key);
      events.push({ type: 'RatingSubmitted', envelope, recordType: 'movie', recordId, userId, value: 1 + next(5), providerId: null });
    }
  }
  return events;
}

const byId = <T extends { record_id: string; user_id?: string }>(a: T, b: T) => `${a.record_id}/${a.user_id ?? ''}`.localeCompare(`${b.record_id}/${b.user_id ?? ''}`);

export interface ExpectedReadModel {
  ratings: Array<{ record_id: string; user_id: string; value: number }>;
  aggregates: Array<{ record_id: string; count: number; sum: number; distribution: number[] }>;
}

export function foldIndependently(events: readonly RatingEvent[]): ExpectedReadModel {
  const values = new Map<string, { record_id: string; user_id: string; value: number }>();
  for (const e of events) {
    const key = `${e.recordId}\u0000${e.userId}`;
    if (e.type === 'RatingDeleted') values.delete(key);
    else values.set(key, { record_id: e.recordId, user_id: e.userId, value: e.value });
  }
  const aggregates = new Map<string, { record_id: string; count: number; sum: number; distribution: number[] }>();
  for (const r of values.values()) {
    const a = aggregates.get(r.record_id) ?? { record_id: r.record_id, count: 0, sum: 0, distribution: [0, 0, 0, 0, 0] };
    a.count += 1;
    a.sum += r.value;
    a.distribution[r.value - 1]! += 1;
    aggregates.set(r.record_id, a);
  }
  return { ratings: [...values.values()].sort(byId), aggregates: [...aggregates.values()].sort(byId) };
}

/** The read model as stored; aggregate rows that every rating left again must be all zero. */
export async function readModel(pool: Pool): Promise<ExpectedReadModel & { zeroRowsNotZero: number }> {
  const ratings = await pool.query<{ record_id: string; user_id: string; value: number }>('SELECT record_id, user_id, value FROM ratings.ratings');
  const aggregates = await pool.query<{ record_id: string; count: number; sum: number; distribution: number[] }>(
    'SELECT record_id, count, sum, ARRAY[count_1, count_2, count_3, count_4, count_5] AS distribution FROM ratings.rating_aggregates WHERE count <> 0',
  );
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM ratings.rating_aggregates WHERE count = 0 AND (sum, count_1, count_2, count_3, count_4, count_5) <> (0, 0, 0, 0, 0, 0)',
  );
  return { ratings: ratings.rows.sort(byId), aggregates: aggregates.rows.sort(byId), zeroRowsNotZero: rows[0]!.n };
}

/** Produces `events` in order, `chunk` at a time, pausing `pauseMs` between chunks to spread them over time. */
export async function produceStream(producer: Producer, codec: EventCodec, events: readonly RatingEvent[], chunk: number, pauseMs: number): Promise<void> {
  for (let i = 0; i < events.length; i += chunk) {
    const encoded = await Promise.all(events.slice(i, i + chunk).map((e) => codec.encode(e)));
    await producer.send({ topic: encoded[0]!.topic, acks: -1, messages: encoded.map(({ key, value, headers }) => ({ key, value, headers })) });
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

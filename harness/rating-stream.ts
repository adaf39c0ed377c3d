/**
 * Streams of ratings with re-ratings and deletes, for the crash tests and the benchmark, and
 * their fold computed here, independently of the projector's code: whatever happened to the
 * projector, its read model must equal it.
 */
import type { Producer } from 'kafkajs';
import type { EventCodec } from '../shared/kafka/codec.ts';
import { newEventId } from '../shared/events/event-id.ts';
import type { RatingEvent } from '../shared/events/types.ts';

/** The benchmark's key space: many movies and users, as a catalogue has. */
export const CATALOGUE_SPACE = { movies: 20_000, users: 50_000 };
const DELETE_SHARE = 0.1;
const RERATE_SHARE = 0.2;
/** Cumulative odds of the values 1..5: ratings lean positive, as real ones do. */
const VALUE_ODDS = [0.08, 0.18, 0.4, 0.7, 1];
/** A fixed start keeps occurredAt identical between runs of the same seed. */
const EPOCH_MS = Date.UTC(2025, 0, 1);

/**
 * A seeded uniform generator in [0, 1): a Weyl sequence through the murmur3 finalizer. Plenty
 * for test data, and it makes every run with the same seed rate the same movies the same way.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4_294_967_296;
  };
}

/**
 * Endless rating events: mostly first ratings of a random (movie, user) pair, a fifth re-ratings
 * and a tenth deletions of a pair rated before (some of them already deleted, so a delete of
 * nothing is exercised too). The event ids carry random bits, so that they are unique across runs.
 */
export function* ratingEvents(seed: number, space = CATALOGUE_SPACE): Generator<RatingEvent> {
  const { movies, users } = space;
  const movieIds = Array.from({ length: movies }, (_, i) => `tt${String(i + 1).padStart(7, '0')}`);
  const userIds = Array.from({ length: users }, (_, i) => `user${String(i + 1).padStart(6, '0')}`);
  const random = seededRandom(seed);
  const pick = (n: number) => Math.floor(random() * n);
  // Pairs packed as movie * users + user: a million numbers weigh far less than a million tuples.
  const rated: number[] = [];
  for (let i = 0; ; i += 1) {
    const roll = random();
    const again = rated.length > 0 && roll < DELETE_SHARE + RERATE_SHARE;
    const pair = again ? rated[pick(rated.length)]! : pick(movies) * users + pick(users);
    if (!again) rated.push(pair);
    const recordId = movieIds[Math.floor(pair / users)]!;
    const userId = userIds[pair % users]!;
    // Minted as the command API mints them, at the time of the event; the random bits keep them unique across runs.
    const occurredAt = new Date(EPOCH_MS + i);
    const eventId = newEventId(occurredAt.getTime());
    const envelope = { eventId, occurredAt, principal: userId, correlationId: eventId };
    if (again && roll < DELETE_SHARE) {
      yield { type: 'RatingDeleted', envelope, recordType: 'movie', recordId, userId };
    } else {
      const draw = random();
      const value = 1 + VALUE_ODDS.findIndex((odds) => draw < odds);
      yield { type: 'RatingSubmitted', envelope, recordType: 'movie', recordId, userId, value, providerId: null };
    }
  }
}

export interface Aggregate {
  count: number;
  sum: number;
  /** Number of ratings of each value, index 0 for value 1. */
  distribution: number[];
}

/** The next `n` events, each also applied to `fold`. */
export function takeEvents(events: Iterator<RatingEvent>, n: number, fold: ExpectedFold): RatingEvent[] {
  const chunk: RatingEvent[] = [];
  for (let i = 0; i < n; i += 1) {
    const event = events.next().value as RatingEvent;
    fold.applyEvent(event);
    chunk.push(event);
  }
  return chunk;
}

/**
 * The ratings read model computed the obvious way, one event at a time in log order, with none
 * of the projector's code: what the projector must arrive at.
 */
export class ExpectedFold {
  /** Current value by `${recordId} ${userId}` (ids never contain a space). */
  readonly ratings = new Map<string, number>();

  applyEvent(event: RatingEvent): void {
    this.apply(event.recordId, event.userId, event.type === 'RatingSubmitted' ? event.value : null);
  }

  apply(recordId: string, userId: string, value: number | null): void {
    const key = `${recordId} ${userId}`;
    if (value === null) this.ratings.delete(key);
    else this.ratings.set(key, value);
  }

  aggregates(): Map<string, Aggregate> {
    const byMovie = new Map<string, Aggregate>();
    for (const [key, value] of this.ratings) {
      const recordId = key.slice(0, key.indexOf(' '));
      const aggregate = byMovie.get(recordId) ?? { count: 0, sum: 0, distribution: [0, 0, 0, 0, 0] };
      aggregate.count += 1;
      aggregate.sum += value;
      aggregate.distribution[value - 1]! += 1;
      byMovie.set(recordId, aggregate);
    }
    return byMovie;
  }

  /** The first few pairs on which two folds disagree; empty when they are the same. */
  differencesFrom(other: ExpectedFold, limit = 5): string[] {
    const found: string[] = [];
    if (this.ratings.size !== other.ratings.size) found.push(`${this.ratings.size} ratings vs ${other.ratings.size}`);
    for (const [key, value] of this.ratings) {
      if (found.length >= limit) break;
      if (other.ratings.get(key) !== value) found.push(`${key}: ${value} vs ${String(other.ratings.get(key))}`);
    }
    return found;
  }
}

/** Produces `events` in order, `chunk` at a time, pausing `pauseMs` between chunks to spread them over time. */
export async function produceStream(
  producer: Producer,
  codec: EventCodec,
  events: readonly RatingEvent[],
  chunk: number,
  pauseMs: number,
): Promise<void> {
  for (let i = 0; i < events.length; i += chunk) {
    const encoded = events.slice(i, i + chunk).map((e) => codec.encode(e));
    await producer.send({
      topic: encoded[0]!.topic,
      acks: -1,
      messages: encoded.map(({ key, value, headers }) => ({ key, value, headers })),
    });
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

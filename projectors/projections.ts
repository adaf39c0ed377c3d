import type { Topics } from '../shared/config.ts';
import type { PoolClient } from '../shared/db/pool.ts';
import { UnexpectedEventError } from '../shared/events/errors.ts';
import type { CatalogueEvent, EventType } from '../shared/events/types.ts';
import { applyMovieMetadata } from './movie-details/store.ts';
import { applyRatings } from './ratings/store.ts';

/** A read model fed by one topic: applies a batch of that topic's events inside a transaction. */
export interface Projection {
  name: string;
  topic: string;
  apply(client: PoolClient, events: readonly CatalogueEvent[]): Promise<void>;
}

function only<T extends EventType>(projection: string, types: readonly T[]) {
  return (events: readonly CatalogueEvent[]) =>
    events.map((event) => {
      if (!(types as readonly EventType[]).includes(event.type)) {
        throw new UnexpectedEventError(`${projection} does not handle ${event.type} (${event.envelope.eventId})`);
      }
      return event as Extract<CatalogueEvent, { type: T }>;
    });
}

export function catalogueProjections(topics: Topics): Projection[] {
  const movieEvents = only('movie-details', ['MovieMetadataSet']);
  const ratingEvents = only('ratings', ['RatingSubmitted']);
  return [
    { name: 'movie-details', topic: topics.movieMetadata, apply: (client, events) => applyMovieMetadata(client, movieEvents(events)) },
    { name: 'ratings', topic: topics.movieRatings, apply: (client, events) => applyRatings(client, ratingEvents(events)) },
  ];
}

/**
 * The events of the catalogue, as the domain sees them. Ids and time come in through the
 * envelope, never from inside domain code.
 */
export interface EventEnvelope {
  eventId: string;
  occurredAt: Date;
  /** The `sub` of the token that issued the command. */
  principal: string;
  correlationId: string;
}

export interface MovieMetadataSet {
  type: 'MovieMetadataSet';
  envelope: EventEnvelope;
  movieId: string;
  title: string;
  description: string;
  director: string;
  year: number | null;
  actors: string[];
  /** The version the writer expected to replace (If-Match); null: no precondition. Since v2. */
  expectedVersion: number | null;
}

export interface RatingSubmitted {
  type: 'RatingSubmitted';
  envelope: EventEnvelope;
  recordType: string;
  recordId: string;
  userId: string;
  value: number;
  /** The third-party provider of a bulk rating; null for a user's own. Since v2. */
  providerId: string | null;
}

export interface RatingDeleted {
  type: 'RatingDeleted';
  envelope: EventEnvelope;
  recordType: string;
  recordId: string;
  userId: string;
}

export type MovieMetadataEvent = MovieMetadataSet;
export type RatingEvent = RatingSubmitted | RatingDeleted;
export type CatalogueEvent = MovieMetadataEvent | RatingEvent;
export type EventType = CatalogueEvent['type'];

/** The partition key: all events of one movie (or rated record) keep their order. */
export function partitionKey(event: CatalogueEvent): string {
  return event.type === 'MovieMetadataSet' ? event.movieId : event.recordId;
}

/** Ids are opaque to us but travel in URLs, keys and logs: keep them short and plain. */
export const ID_PATTERN = /^[A-Za-z0-9._~-]{1,64}$/;

/**
 * User ids are the `sub` of identity providers, which spell them their own way (`auth0|123`,
 * an email address): any printable ASCII but the space, up to 128 characters.
 */
export const USER_ID_PATTERN = /^[!-~]{1,128}$/;

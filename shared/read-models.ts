import type { MovieMetadataSet } from './events/types.ts';

/**
 * The contract between the projectors, which write the read models, and whoever reads them (the
 * query API, the command API's If-Match, replay, the dead-letter tool): the schemas and tables,
 * what an event's outcome may be, the progress channel and its payload, the movie row. The
 * tables themselves are made by shared/db/migrations/.
 */

/** Each projection owns a schema (its read model and bookkeeping); the commands and operators own one each. */
export const SCHEMAS = {
  movieDetails: 'movie_details',
  ratings: 'ratings',
  /** The command API's idempotency keys. */
  commands: 'commands',
  /** The operators' redrives. */
  operations: 'operations',
  /** The subjects' data keys and erasures: never dropped or swapped by a rebuild. */
  privacy: 'privacy',
} as const;

export const TABLES = {
  /** In every projection schema: the next offset to read per partition, with the read model it stands for. */
  offsets: 'projection_offsets',
  /** In every projection schema: what became of each event, by event id. */
  outcomes: 'event_outcomes',
  parkedKeys: 'parked_keys',
  deadLetters: 'dead_letters',
  movies: 'movies',
  ratings: 'ratings',
  ratingAggregates: 'rating_aggregates',
  idempotencyKeys: 'idempotency_keys',
  redrives: 'redrives',
  subjectKeys: 'subject_keys',
  erasures: 'erasures',
} as const;

/** A schema-qualified table name; schemas are ours (config or code), never user input. */
export const table = (schema: string, name: string) => `"${schema.replaceAll('"', '""')}".${name}`;

/** The live tables read by name outside the projector that writes them. */
export const LIVE = {
  movies: table(SCHEMAS.movieDetails, TABLES.movies),
  ratingAggregates: table(SCHEMAS.ratings, TABLES.ratingAggregates),
  idempotencyKeys: table(SCHEMAS.commands, TABLES.idempotencyKeys),
  redrives: table(SCHEMAS.operations, TABLES.redrives),
  subjectKeys: table(SCHEMAS.privacy, TABLES.subjectKeys),
  erasures: table(SCHEMAS.privacy, TABLES.erasures),
} as const;

/** What became of an event in its projection; the CHECK of `event_outcomes.status` lists the same. */
export const OUTCOME_STATUSES = ['applied', 'rejected', 'dead_lettered', 'parked'] as const;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

/** A movie's row in the movies table, as the projection writes it and the APIs read it: the metadata last set, its version and time. */
export type MovieRow = Pick<MovieMetadataSet, 'movieId' | 'title' | 'description' | 'director' | 'year' | 'actors'> & {
  version: number;
  updatedAt: Date;
};

/**
 * The Postgres channel on which a projection's transaction announces, as it commits, that its
 * positions moved: readers waiting for a position learn it at once instead of at their next poll.
 * The payload is a ProgressAnnouncement as JSON, or UNSPECIFIED_PROGRESS where the sender does
 * not say what moved (a rebuild's swap): then a reader must read the offsets itself.
 */
export const PROGRESS_CHANNEL = 'projection_progress';
export const UNSPECIFIED_PROGRESS = '';

/** What one projection's transaction stored as its next offsets on one topic. */
export interface ProgressAnnouncement {
  schema: string;
  /** The oid of the offsets table written, which a rebuild's swap changes under the same schema name. */
  table: string;
  topic: string;
  /** [partition, next offset] pairs. */
  offsets: Array<[number, number]>;
}

const isOffsetPair = (pair: unknown): pair is [number, number] =>
  Array.isArray(pair) && pair.length === 2 && pair.every((n) => Number.isSafeInteger(n) && (n as number) >= 0);

/** The announcement a payload carries; undefined for an unspecified one or one not in that shape. */
export function parseProgressAnnouncement(payload: string): ProgressAnnouncement | undefined {
  if (payload === UNSPECIFIED_PROGRESS) return undefined;
  try {
    const { schema, table, topic, offsets } = JSON.parse(payload) as Partial<ProgressAnnouncement>;
    if (
      typeof schema !== 'string' ||
      typeof table !== 'string' ||
      typeof topic !== 'string' ||
      !Array.isArray(offsets) ||
      !offsets.every(isOffsetPair)
    )
      return undefined;
    return { schema, table, topic, offsets };
  } catch {
    return undefined;
  }
}

import type { MovieRow } from '../../shared/read-models.ts';
import type { MovieMetadataEvent } from '../../shared/events/types.ts';
import type { FoldResult } from '../projection.ts';

/** The stored version of each movie the batch touches; absent: the movie does not exist yet. */
export type VersionsBefore = ReadonlyMap<string, number>;

export const VERSION_CONFLICT = 'version_conflict';

/**
 * Folds a batch of metadata events into each movie's final row. Every applied change bumps the
 * version by one. An event that expected another version than the current one (optimistic
 * concurrency, If-Match) is rejected and changes nothing; 0 expects a movie that does not exist.
 */
export function foldMovieMetadata(
  events: readonly MovieMetadataEvent[],
  before: VersionsBefore,
): FoldResult<MovieRow[]> {
  const rows = new Map<string, MovieRow>();
  const rejected = new Map<string, string>();
  for (const event of events) {
    const current = rows.get(event.movieId)?.version ?? before.get(event.movieId) ?? 0;
    if (event.expectedVersion !== null && event.expectedVersion !== current) {
      rejected.set(event.envelope.eventId, VERSION_CONFLICT);
      continue;
    }
    rows.set(event.movieId, {
      movieId: event.movieId,
      title: event.title,
      description: event.description,
      director: event.director,
      year: event.year,
      actors: event.actors,
      version: current + 1,
      updatedAt: event.envelope.occurredAt,
    });
  }
  return { changes: [...rows.values()], rejected };
}

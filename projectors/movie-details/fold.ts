import type { MovieMetadataEvent } from '../../shared/events/types.ts';

export interface MovieRow {
  movieId: string;
  title: string;
  description: string;
  director: string;
  year: number | null;
  actors: string[];
  version: number;
  updatedAt: Date;
}

/**
 * Folds a batch of metadata events into each movie's final row. Every applied change bumps the
 * version by one, counting from the version stored before the batch (0 for a new movie).
 */
export function foldMovieMetadata(versionsBefore: ReadonlyMap<string, number>, events: readonly MovieMetadataEvent[]): MovieRow[] {
  const rows = new Map<string, MovieRow>();
  for (const event of events) {
    const version = (rows.get(event.movieId)?.version ?? versionsBefore.get(event.movieId) ?? 0) + 1;
    rows.set(event.movieId, {
      movieId: event.movieId,
      title: event.title,
      description: event.description,
      director: event.director,
      year: event.year,
      actors: event.actors,
      version,
      updatedAt: event.envelope.occurredAt,
    });
  }
  return [...rows.values()];
}

import type { PoolClient } from '../../shared/db/pool.ts';
import type { MovieMetadataEvent } from '../../shared/events/types.ts';
import { foldMovieMetadata } from './fold.ts';

/** Applies a batch of metadata events in two statements: read versions, upsert final rows. */
export async function applyMovieMetadata(client: PoolClient, events: readonly MovieMetadataEvent[]): Promise<void> {
  const movieIds = [...new Set(events.map((e) => e.movieId))];
  const { rows: current } = await client.query<{ movie_id: string; version: number }>({
    name: 'movies-versions',
    text: 'SELECT movie_id, version FROM movies WHERE movie_id = ANY($1::text[])',
    values: [movieIds],
  });
  const rows = foldMovieMetadata(new Map(current.map((r) => [r.movie_id, r.version])), events);
  // jsonb_to_recordset rather than unnest: unnest cannot carry the nested actors arrays.
  await client.query({
    name: 'movies-upsert',
    text: `INSERT INTO movies (movie_id, title, description, director, year, actors, version, updated_at)
           SELECT "movieId", title, description, director, year, actors, version, "updatedAt"
           FROM jsonb_to_recordset($1::jsonb) AS r("movieId" text, title text, description text, director text,
                                                   year integer, actors jsonb, version integer, "updatedAt" timestamptz)
           ON CONFLICT (movie_id) DO UPDATE SET
             title = EXCLUDED.title, description = EXCLUDED.description, director = EXCLUDED.director,
             year = EXCLUDED.year, actors = EXCLUDED.actors, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at`,
    values: [JSON.stringify(rows)],
  });
}

import { SCHEMAS, table, TABLES, type MovieRow } from '../../shared/read-models.ts';
import type { MovieMetadataEvent } from '../../shared/events/types.ts';
import { defineProjection, type Projection, type Target } from '../projection.ts';
import { foldMovieMetadata, type VersionsBefore } from './fold.ts';

/** Each movie's metadata as last set, with the number of applied changes as its version. */
export function movieDetailsProjection(topic: string): Projection {
  return defineProjection<MovieMetadataEvent, VersionsBefore, MovieRow[]>({
    name: 'movie-details',
    schema: SCHEMAS.movieDetails,
    topic,
    handles: ['MovieMetadataSet'],
    load: currentVersions,
    fold: foldMovieMetadata,
    write,
  });
}

async function currentVersions(
  { client, schema }: Target,
  events: readonly MovieMetadataEvent[],
): Promise<VersionsBefore> {
  const { rows } = await client.query<{ movie_id: string; version: number }>({
    name: `${schema}.movies-versions`,
    text: `SELECT movie_id, version FROM ${table(schema, TABLES.movies)} WHERE movie_id = ANY($1::text[])`,
    values: [[...new Set(events.map((e) => e.movieId))]],
  });
  return new Map(rows.map((r) => [r.movie_id, r.version]));
}

async function write({ client, schema }: Target, rows: MovieRow[]): Promise<void> {
  if (rows.length === 0) return;
  // jsonb_to_recordset rather than unnest: unnest cannot carry the nested actors arrays.
  await client.query({
    name: `${schema}.movies-upsert`,
    text: `INSERT INTO ${table(schema, TABLES.movies)} (movie_id, title, description, director, year, actors, version, updated_at)
           SELECT "movieId", title, description, director, year, actors, version, "updatedAt"
           FROM jsonb_to_recordset($1::jsonb) AS r("movieId" text, title text, description text, director text,
                                                   year integer, actors jsonb, version integer, "updatedAt" timestamptz)
           ON CONFLICT (movie_id) DO UPDATE SET
             title = EXCLUDED.title, description = EXCLUDED.description, director = EXCLUDED.director,
             year = EXCLUDED.year, actors = EXCLUDED.actors, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at`,
    values: [JSON.stringify(rows)],
  });
}

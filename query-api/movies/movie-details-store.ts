import type { Pool } from '../../shared/db/pool.ts';
import { ratingSummary, type RatingSummary } from './rating-summary.ts';

export interface MovieDetails {
  movieId: string;
  title: string;
  description: string;
  director: string;
  year: number | null;
  actors: string[];
  rating: RatingSummary | null;
  version: number;
  updatedAt: string;
}

export interface MovieDetailsRead {
  movie: MovieDetails;
  /** Changes whenever the answer does: the metadata version or the rating state. */
  revision: string;
}

interface Row {
  movie_id: string;
  title: string;
  description: string;
  director: string;
  year: number | null;
  actors: string[];
  version: number;
  updated_at: Date;
  count: number | null;
  sum: number | null;
}

export async function findMovieDetails(pool: Pool, movieId: string): Promise<MovieDetailsRead | undefined> {
  const { rows } = await pool.query<Row>({
    name: 'movie-details',
    text: `SELECT m.movie_id, m.title, m.description, m.director, m.year, m.actors, m.version, m.updated_at, a.count, a.sum
           FROM movie_details.movies m
           LEFT JOIN ratings.rating_aggregates a ON a.record_type = 'movie' AND a.record_id = m.movie_id
           WHERE m.movie_id = $1`,
    values: [movieId],
  });
  const row = rows[0];
  if (!row) return undefined;
  const movie = {
    movieId: row.movie_id,
    title: row.title,
    description: row.description,
    director: row.director,
    year: row.year,
    actors: row.actors,
    rating: ratingSummary(row.count, row.sum),
    version: row.version,
    updatedAt: row.updated_at.toISOString(),
  };
  return { movie, revision: `${row.version}.${row.count ?? 0}.${row.sum ?? 0}` };
}

import type { Pool } from '../../shared/db/pool.ts';
import { ratingSummary, type RatingSummary } from './rating-summary.ts';
import { LIVE, type MovieRow } from '../../shared/read-models.ts';

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

interface Row extends MovieRow {
  count: number | null;
  sum: number | null;
}

/** A movie's metadata with its rating aggregate, which lives in the ratings projection. */
const SELECT_DETAILS = `SELECT m.movie_id AS "movieId", m.title, m.description, m.director, m.year, m.actors, m.version,
         m.updated_at AS "updatedAt", a.count, a.sum
  FROM ${LIVE.movies} m
  LEFT JOIN ${LIVE.ratingAggregates} a ON a.record_type = 'movie' AND a.record_id = m.movie_id`;

const toDetails = (row: Row): MovieDetails => ({
  movieId: row.movieId,
  title: row.title,
  description: row.description,
  director: row.director,
  year: row.year,
  actors: row.actors,
  rating: ratingSummary(row.count, row.sum),
  version: row.version,
  updatedAt: row.updatedAt.toISOString(),
});

/** Each movie's details, by movie id; a movie without metadata is absent. */
export async function findMoviesDetails(
  pool: Pool,
  movieIds: readonly string[],
): Promise<Map<string, MovieDetailsRead>> {
  const { rows } = await pool.query<Row>({
    name: 'movies-details',
    text: `${SELECT_DETAILS} WHERE m.movie_id = ANY($1::text[])`,
    values: [movieIds],
  });
  return new Map(
    rows.map((row) => [
      row.movieId,
      { movie: toDetails(row), revision: `${row.version}.${row.count ?? 0}.${row.sum ?? 0}` },
    ]),
  );
}

export interface MoviePageQuery {
  director: string | null;
  /** List movies whose id sorts after this one; null: from the start. */
  after: string | null;
  limit: number;
}

/**
 * One page of movies in movie id order (keyset: each page starts after the last id of the one
 * before, so a movie is listed once however the catalogue changes meanwhile), optionally of one
 * director. Asks for one row more than the page to know whether another page follows.
 */
export async function listMovies(
  pool: Pool,
  { director, after, limit }: MoviePageQuery,
): Promise<{ movies: MovieDetails[]; more: boolean }> {
  const { rows } = await pool.query<Row>({
    name: director === null ? 'movie-page' : 'movie-page-by-director',
    text:
      director === null
        ? `${SELECT_DETAILS} WHERE ($1::text IS NULL OR m.movie_id > $1) ORDER BY m.movie_id LIMIT $2`
        : `${SELECT_DETAILS} WHERE m.director = $3 AND ($1::text IS NULL OR m.movie_id > $1) ORDER BY m.movie_id LIMIT $2`,
    values: director === null ? [after, limit + 1] : [after, limit + 1, director],
  });
  return { movies: rows.slice(0, limit).map(toDetails), more: rows.length > limit };
}

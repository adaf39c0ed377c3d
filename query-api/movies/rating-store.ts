import type { Pool } from '../../shared/db/pool.ts';
import { ratingSummary } from './rating-summary.ts';
import { LIVE } from '../../shared/read-models.ts';

export interface RatingDetails {
  /** Null while nobody has rated. */
  average: number | null;
  count: number;
  distribution: Record<'1' | '2' | '3' | '4' | '5', number>;
}

interface Row {
  movie_id: string;
  known: boolean;
  count: number | null;
  sum: number | null;
  count_1: number | null;
  count_2: number | null;
  count_3: number | null;
  count_4: number | null;
  count_5: number | null;
}

/**
 * Each movie's rating with its distribution, by movie id; a movie the catalogue knows nothing of
 * (no metadata and no rating) is absent. A movie with metadata and no rating has count 0.
 */
export async function findRatings(pool: Pool, movieIds: readonly string[]): Promise<Map<string, RatingDetails>> {
  const { rows } = await pool.query<Row>({
    name: 'movie-ratings',
    text: `SELECT i.movie_id, (coalesce(a.count, 0) > 0 OR EXISTS (SELECT 1 FROM ${LIVE.movies} m WHERE m.movie_id = i.movie_id)) AS known,
                  a.count, a.sum, a.count_1, a.count_2, a.count_3, a.count_4, a.count_5
             FROM unnest($1::text[]) AS i(movie_id)
             LEFT JOIN ${LIVE.ratingAggregates} a ON a.record_type = 'movie' AND a.record_id = i.movie_id`,
    values: [movieIds],
  });
  const ratings = new Map<string, RatingDetails>();
  for (const row of rows) {
    if (!row.known) continue;
    ratings.set(row.movie_id, {
      average: ratingSummary(row.count, row.sum)?.average ?? null,
      count: row.count ?? 0,
      distribution: {
        '1': row.count_1 ?? 0,
        '2': row.count_2 ?? 0,
        '3': row.count_3 ?? 0,
        '4': row.count_4 ?? 0,
        '5': row.count_5 ?? 0,
      },
    });
  }
  return ratings;
}

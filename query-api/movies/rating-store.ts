import type { Pool } from '../../shared/db/pool.ts';
import { ratingSummary } from './rating-summary.ts';

export interface RatingDetails {
  /** Null while nobody has rated. */
  average: number | null;
  count: number;
  distribution: Record<'1' | '2' | '3' | '4' | '5', number>;
}

interface Row {
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
 * A movie's rating with its distribution; undefined when the catalogue knows nothing of the
 * movie (no metadata and no rating). A movie with metadata and no rating has count 0.
 */
export async function findRating(pool: Pool, movieId: string): Promise<RatingDetails | undefined> {
  const { rows } = await pool.query<Row>({
    name: 'movie-rating',
    text: `SELECT (coalesce(a.count, 0) > 0 OR EXISTS (SELECT 1 FROM movie_details.movies m WHERE m.movie_id = $1)) AS known,
                  a.count, a.sum, a.count_1, a.count_2, a.count_3, a.count_4, a.count_5
             FROM (SELECT 1) one
             LEFT JOIN ratings.rating_aggregates a ON a.record_type = 'movie' AND a.record_id = $1`,
    values: [movieId],
  });
  const row = rows[0]!;
  if (!row.known) return undefined;
  const count = row.count ?? 0;
  return {
    average: ratingSummary(row.count, row.sum)?.average ?? null,
    count,
    distribution: { '1': row.count_1 ?? 0, '2': row.count_2 ?? 0, '3': row.count_3 ?? 0, '4': row.count_4 ?? 0, '5': row.count_5 ?? 0 },
  };
}

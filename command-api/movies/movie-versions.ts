import type { Pool } from '../../shared/db/pool.ts';
import { UnavailableError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { LIVE } from '../../shared/read-models.ts';

/** The version the movie-details read model shows for a movie; 0 when it has none yet. */
export type MovieVersions = (movieId: string) => Promise<number>;

export function createMovieVersions(pool: Pool, logger: Logger): MovieVersions {
  return async (movieId) => {
    try {
      const { rows } = await pool.query<{ version: number }>({
        name: 'movie-version',
        text: `SELECT version FROM ${LIVE.movies} WHERE movie_id = $1`,
        values: [movieId],
      });
      return rows[0]?.version ?? 0;
    } catch (err) {
      logger.warn({ err }, 'movie version lookup failed');
      throw new UnavailableError(
        'The read model cannot be reached to check If-Match; nothing was written.',
        1,
        'database',
      );
    }
  };
}

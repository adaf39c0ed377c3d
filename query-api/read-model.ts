import { UnavailableError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';

/** SQLSTATEs of a statement that ran out of time (statement timeout, lock timeout). */
const OUT_OF_TIME = new Set(['57014', '55P03']);

const ranOutOfTime = (err: unknown) => OUT_OF_TIME.has((err as { code?: unknown }).code as string);

/**
 * Runs a read of the projections; any failure of Postgres (down, too slow for the statement
 * timeout, tables missing) is 503 with Retry-After, never a 500: the query is fine, the
 * database is not, and the answer comes back once it is.
 *
 * A read that ran out of time is tried once more before that. Its statements take a
 * millisecond, and the timeout is tens of them; on a machine whose cores are all busy, a
 * backend now and then waits longer than that for one. The steady-state bench saw it on up to
 * 1 read in 1,000, as 503s. A database that is really slow fails the second try too, so the
 * read answers 503 after twice the timeout.
 */
export function createReader(logger: Logger) {
  return async function read<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query().catch((err: unknown) => {
        if (!ranOutOfTime(err)) throw err;
        logger.debug({ err }, 'read ran out of time; trying once more');
        return query();
      });
    } catch (err) {
      logger.warn({ err }, 'read model unavailable');
      throw new UnavailableError('The read models cannot be read right now.', 1);
    }
  };
}

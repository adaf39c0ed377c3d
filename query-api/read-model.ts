import { UnavailableError } from '../shared/errors.ts';
import { classify } from '../shared/failures.ts';
import type { Logger } from '../shared/logger.ts';

const ranOutOfTime = (err: unknown) => {
  const failure = classify(err);
  return failure.kind === 'transient' && failure.outOfTime;
};

/**
 * Runs a read of the projections; any failure of Postgres (down, too slow for the statement
 * timeout, tables missing) is 503 with Retry-After, never a 500: the query is fine, the
 * database is not, and the answer comes back once it is.
 *
 * A read that ran out of time is tried once more before that: with every core busy, a
 * millisecond's statement now and then waits past the timeout for a core (docs/performance.md).
 * A database that is really slow fails the second try too, after twice the timeout.
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
      throw new UnavailableError('The read models cannot be read right now.', 1, 'database');
    }
  };
}

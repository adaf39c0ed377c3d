import { UnavailableError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';

/**
 * Runs a read of the projections; any failure of Postgres (down, too slow for the statement
 * timeout, tables missing) is 503 with Retry-After, never a 500: the query is fine, the
 * database is not, and the answer comes back once it is.
 */
export function createReader(logger: Logger) {
  return async function read<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (err) {
      logger.warn({ err }, 'read model unavailable');
      throw new UnavailableError('The read models cannot be read right now.', 1);
    }
  };
}

import pg from 'pg';
import type { Logger } from '../logger.ts';

export type { Pool, PoolClient } from 'pg';

// Postgres bigint (int8) columns hold offsets and sums well inside 2^53; read them as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface PoolTimeouts {
  /** How long a statement may run before Postgres cancels it; a lock is waited for a third of it. */
  statementTimeoutMs: number;
  /** How long to wait for a connection, from the pool or from the server. */
  connectTimeoutMs: number;
}

/** Sized for batch work: a projector's transaction may legitimately take seconds. */
const BATCH_TIMEOUTS: PoolTimeouts = { statementTimeoutMs: 30_000, connectTimeoutMs: 5000 };

export function createPool(connectionString: string, max: number, logger: Logger, timeouts: PoolTimeouts = BATCH_TIMEOUTS): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    // A stuck statement or lock becomes an error the caller retries, not a hang.
    options: `-c statement_timeout=${timeouts.statementTimeoutMs} -c lock_timeout=${Math.ceil(timeouts.statementTimeoutMs / 3)}`,
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', (err) => logger.warn({ err }, 'idle database client failed'));
  return pool;
}

/** Runs `work` in one transaction on one checked-out client. */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection lost between two statements emits 'error' on the checked-out client, which
  // would crash the process unheard; the next statement fails with it and the caller retries.
  const ignore = () => undefined;
  client.on('error', ignore);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.off('error', ignore);
    client.release();
  }
}

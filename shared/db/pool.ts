import pg from 'pg';
import type { Logger } from '../logger.ts';
import { pgConnection } from './connection.ts';

export type { Pool, PoolClient } from 'pg';

// Postgres bigint (int8) columns hold offsets and sums well inside 2^53; read them as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface PoolOptions {
  /** How long a statement may run before Postgres cancels it; a lock is waited for a third of it. */
  statementTimeoutMs: number;
  /** How long to wait for a connection, from the pool or from the server. */
  connectTimeoutMs: number;
  /**
   * Statements issued together on one client go to Postgres together instead of each waiting for
   * the answer to the one before (node-postgres's pipeline mode); see `inParallel`.
   */
  pipeline?: boolean;
}

/** Sized for batch work: a projector's transaction may legitimately take seconds, and sends its statements in a few round trips. */
const BATCH: PoolOptions = { statementTimeoutMs: 30_000, connectTimeoutMs: 5000, pipeline: true };

export function createPool(databaseUrl: string, max: number, logger: Logger, options: PoolOptions = BATCH): pg.Pool {
  const pool = new pg.Pool({
    ...pgConnection(databaseUrl),
    max,
    pipeline: options.pipeline ?? false,
    connectionTimeoutMillis: options.connectTimeoutMs,
    // A stuck statement or lock becomes an error the caller retries, not a hang.
    options: `-c statement_timeout=${options.statementTimeoutMs} -c lock_timeout=${Math.ceil(options.statementTimeoutMs / 3)}`,
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', (err) => logger.warn({ err }, 'idle database client failed'));
  return pool;
}

/** Whether the client sends a statement before the answers to those before it have come. */
const pipelines = (client: pg.PoolClient) => (client as pg.PoolClient & { pipeline?: boolean }).pipeline === true;

/**
 * Runs `work` in one transaction on one checked-out client. A pipelining client sends BEGIN
 * together with the work's first statements. BEGIN fails only with the connection, and then
 * so do they.
 */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection lost between two statements emits 'error' on the checked-out client, which
  // would crash the process unheard; the next statement fails with it and the caller retries.
  const ignore = () => undefined;
  client.on('error', ignore);
  try {
    const begun = client.query('BEGIN');
    if (!pipelines(client)) await begun;
    const [, result] = await inParallel([begun, work(client)]);
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

/**
 * Waits for statements issued together on one transaction's client (sent together when the
 * client pipelines), and fails with the first failure in the order they were issued, which is
 * the order Postgres ran them in: the ones after a failure fail only because the transaction
 * is aborted. It waits for every one of them before failing, so that nothing the caller issues
 * on the way out (a ROLLBACK, the next transaction) overtakes a statement still on its way.
 */
export async function inParallel<T extends readonly unknown[]>(statements: {
  [K in keyof T]: Promise<T[K]>;
}): Promise<T> {
  const settled = await Promise.allSettled(statements);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { SQLSTATE, sqlState } from '../failures.ts';
import type { Logger } from '../logger.ts';
import { pgConnection } from './connection.ts';

const CONNECT_TIMEOUT_MS = 5000;
const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * Brings the database schema (read models, command bookkeeping) up to date. Safe to run from
 * several processes at once: node-pg-migrate serializes runs with an advisory lock, and a process
 * that finds it taken waits its turn (then finds nothing left to do) rather than failing to start.
 */
export async function migrate(databaseUrl: string, logger: Logger): Promise<void> {
  if (await upToDate(databaseUrl)) return;
  const log = logger.child({ component: 'migrate' });
  await runner({
    databaseUrl: pgConnection(databaseUrl),
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    advisoryLockMode: 'wait',
    logger: {
      debug: () => undefined,
      info: (msg: string) => log.info(msg),
      warn: (msg: string) => log.warn(msg),
      error: (msg: string) => log.error(msg),
    },
  });
}

/**
 * Whether every migration is applied already. A service connecting as a role that may only use
 * its tables (the production shape's) then starts without asking node-pg-migrate, which alters
 * its own table as it checks it, and only the owner may.
 */
async function upToDate(databaseUrl: string): Promise<boolean> {
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith('.sql'))
    .map((f) => path.basename(f, '.sql'));
  // Bounded, so that an unreachable server fails this attempt (and the service tries again) instead of hanging it.
  const client = new pg.Client({ ...pgConnection(databaseUrl), connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  await client.connect();
  try {
    const { rows } = await client
      .query<{ name: string }>('SELECT name FROM public.pgmigrations')
      .catch((err: unknown) => {
        // 42P01, no such table: nothing is applied yet.
        if (sqlState(err) === SQLSTATE.undefinedTable) return { rows: [] };
        throw err;
      });
    const applied = new Set(rows.map((r) => r.name));
    return files.every((name) => applied.has(name));
  } finally {
    await client.end();
  }
}

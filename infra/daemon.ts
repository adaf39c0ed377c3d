import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CatalogueError } from '../shared/errors.ts';
import { DATA_DIR, logPath, pidPath } from './paths.ts';

/** A service failed to come up; the message carries the tail of its log. */
export class StartupError extends CatalogueError {}

export function tail(file: string, lines = 30): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `pid` is still the process we started: after a reboot a pid file can name some other
 * process, which must never be signalled. Every daemon's command line names the data folder.
 */
function isOurs(pid: number): boolean {
  if (!isAlive(pid)) return false;
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync('/proc/self/cmdline')) return true; // no procfs: trust the pid file
  return existsSync(cmdline) && readFileSync(cmdline, 'utf8').includes(DATA_DIR);
}

/** The pid of a service this launcher started and that still runs; clears a stale pid file. */
export function runningPid(name: string): number | undefined {
  const file = pidPath(name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 0 && isOurs(pid)) return pid;
  rmSync(file, { force: true });
  return undefined;
}

export interface DaemonSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Starts a detached process that outlives the launcher, its output appended to its log file.
 * One already started (and perhaps still coming up) is reused, never started twice.
 */
export function startDaemon(spec: DaemonSpec): number {
  const existing = runningPid(spec.name);
  if (existing !== undefined) return existing;
  const log = logPath(spec.name);
  mkdirSync(path.dirname(log), { recursive: true });
  mkdirSync(path.dirname(pidPath(spec.name)), { recursive: true });
  const fd = openSync(log, 'a');
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  if (child.pid === undefined) throw new StartupError(`${spec.name}: could not spawn ${spec.command}`);
  child.unref();
  writeFileSync(pidPath(spec.name), String(child.pid));
  return child.pid;
}

/** SIGTERM, then SIGKILL if the process has not exited by the deadline. */
export async function stopDaemon(name: string, graceMs = 30_000): Promise<boolean> {
  const pid = runningPid(name);
  if (pid === undefined) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await delay(200);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await delay(50);
  rmSync(pidPath(name), { force: true });
  return true;
}

/** The JVM to run Kafka and the registry with: JAVA_HOME's when set, else the one on PATH. */
export const java = () => (process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java');

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` until it resolves true or the deadline passes. Fails early, with the log's
 * tail, if the service's process dies while we wait. `log` is for a service that keeps its log
 * elsewhere than the launcher's log folder.
 */
export async function waitUntil(
  name: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  log = logPath(name),
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pidFile = pidPath(name);
  const watched = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (watched !== undefined && !isAlive(watched)) {
      throw new StartupError(`${name} exited during startup. Last lines of ${log}:\n${tail(log)}`);
    }
    await delay(250);
  }
  throw new StartupError(
    `${name} did not become ready within ${timeoutMs / 1000}s. Last lines of ${log}:\n${tail(log)}`,
  );
}

export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

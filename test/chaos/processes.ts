import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../infra/paths.ts';
import { freePort } from '../../harness/services.ts';
import type { ServiceUser } from '../../infra/cluster/access.ts';
import type { World } from './world.ts';

export const JWT_SECRET = 'chaos-jwt-secret-that-is-long-enough-for-hs256';
const EVENT_ID_SECRET = 'chaos-event-id-secret-that-is-long-enough';

type Kind = 'command-api' | 'query-api' | 'projectors';

const MAIN: Record<Kind, string> = {
  'command-api': 'command-api/main.ts',
  'query-api': 'query-api/main.ts',
  projectors: 'projectors/main.ts',
};
const PORT_SETTING: Record<Kind, string> = {
  'command-api': 'COMMAND_API_PORT',
  'query-api': 'QUERY_API_PORT',
  projectors: 'PROJECTOR_PORT',
};

/**
 * One service instance as a real process on a port of its own, kept across restarts. Like a
 * supervisor (systemd, Kubernetes) it starts the process again when it exits on its own; a
 * process the run kills or stops stays down until the run starts it.
 */
export interface Instance {
  name: string;
  url: string;
  readonly running: boolean;
  /** Its log file, kept with a failed run's. */
  readonly log: string;
  /** How it ended each time it exited on its own (and was started again). */
  readonly selfExits: readonly string[];
  start(): void;
  /** Sends the signal and waits for the exit; it stays down. */
  stop(signal: NodeJS.Signals): Promise<void>;
  /** Waits until /health/ready answers 200. */
  ready(timeoutMs?: number): Promise<void>;
  /** Stops it (SIGTERM) for good and closes its log. */
  close(): Promise<void>;
}

export function systemEnv(world: World, kind: ServiceUser): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...world.kafkaEnv(kind),
    SCHEMA_REGISTRY_URL: world.registryUrl,
    DATABASE_URL: world.databaseUrl,
    TOPIC_MOVIE_METADATA: world.topics.movieMetadata,
    TOPIC_MOVIE_RATINGS: world.topics.movieRatings,
    TOPIC_MOVIE_METADATA_DLQ: world.deadLetters.get(world.topics.movieMetadata),
    TOPIC_MOVIE_RATINGS_DLQ: world.deadLetters.get(world.topics.movieRatings),
    PROJECTOR_GROUP_ID: world.projectorGroup,
    JWT_SECRET,
    EVENT_ID_SECRET,
    // The load comes from a few dozen principals at a fair rate; the limit is not what is tested here.
    RATE_LIMIT_MAX: '100000',
    LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn',
  };
}

export async function startInstance(world: World, kind: Kind, index: number): Promise<Instance> {
  const name = `${kind}-${index}`;
  const port = await freePort();
  const env = { ...systemEnv(world, kind), [PORT_SETTING[kind]]: String(port) };
  const logPath = path.join(world.dir, `${name}.log`);
  const log = openSync(logPath, 'a');
  let child: ChildProcess | undefined;
  const selfExits: string[] = [];
  const instance: Instance = {
    name,
    url: `http://127.0.0.1:${port}`,
    get running() {
      return child !== undefined;
    },
    log: logPath,
    get selfExits() {
      return selfExits;
    },
    start() {
      if (child) return;
      const started = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, MAIN[kind])], {
        env,
        stdio: ['ignore', log, log],
      });
      child = started;
      started.once('exit', (code, signal) => {
        if (child !== started) return; // stopped by the run
        child = undefined;
        selfExits.push(`${signal ?? `exit code ${code}`} at ${new Date().toISOString()}`);
        setTimeout(() => instance.start(), 1000).unref();
      });
    },
    async stop(signal) {
      const current = child;
      if (!current) return;
      child = undefined;
      const exited = new Promise((resolve) => current.once('exit', resolve));
      if (current.exitCode === null && current.signalCode === null) current.kill(signal);
      await exited;
    },
    async close() {
      await instance.stop('SIGTERM');
      closeSync(log);
    },
    async ready(timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      while (
        !(await fetch(`${instance.url}/health/ready`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.ok,
          () => false,
        ))
      ) {
        if (Date.now() > deadline)
          throw new Error(
            `${name} is not ready after ${timeoutMs / 1000} s; see ${path.join(world.dir, `${name}.log`)}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
  };
  instance.start();
  return instance;
}

/** The whole system: two command APIs, a query API and three projectors, ready. */
export async function startServices(world: World) {
  const projectors = await Promise.all([1, 2, 3].map((i) => startInstance(world, 'projectors', i)));
  // The projectors migrate the database before the APIs, whose readiness needs the tables.
  await Promise.all(projectors.map((p) => p.ready()));
  const commandApis = await Promise.all([1, 2].map((i) => startInstance(world, 'command-api', i)));
  const queryApi = await startInstance(world, 'query-api', 1);
  await Promise.all([...commandApis, queryApi].map((i) => i.ready()));
  return {
    commandApis,
    queryApi,
    projectors,
    all: () => [...commandApis, queryApi, ...projectors],
    async stop(): Promise<void> {
      await Promise.all([...commandApis, queryApi, ...projectors].map((i) => i.close()));
    },
  };
}

export type Services = Awaited<ReturnType<typeof startServices>>;

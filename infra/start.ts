import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { COMMAND_API_NODE_FLAGS, DEFAULTS } from '../shared/defaults.ts';
import { delay } from './daemon.ts';
import { exitWithFailure } from './fail.ts';
import { developmentEventIdSecret, developmentJwtSecret } from './dev-secret.ts';
import { ensureArtifacts } from './artifacts.ts';
import { clusterInstancePorts, infraDown, infraUp, launcherCluster, launcherDatabase } from './infra.ts';
import { REPO_ROOT } from './paths.ts';

/**
 * `npm start`: the whole system on local defaults. Brings up the infrastructure that is not
 * running, then the three services in the foreground; Ctrl-C stops the services gracefully and
 * then the infrastructure this run started. `npm start -- --cluster` runs the production shape:
 * the secured three-node Kafka cluster, and two instances of each service, each service as its
 * own Kafka user.
 */
const say = (line: string) => console.log(`start: ${line}`);
const options = process.argv.slice(2);
if (options.some((option) => option !== '--cluster')) {
  console.error('usage: npm start [-- --cluster]');
  process.exit(2);
}
const shape = { cluster: options.includes('--cluster') };
// A development HS256 secret, unless the command API is told to check tokens another way.
const asymmetric = Boolean(process.env.JWT_PUBLIC_KEY || process.env.JWT_JWKS_URL);
const env: NodeJS.ProcessEnv = {
  ...process.env,
  ...(asymmetric ? {} : { JWT_SECRET: developmentJwtSecret() }),
  EVENT_ID_SECRET: developmentEventIdSecret(),
};
const host = env.HOST ?? DEFAULTS.HOST;

interface Service {
  name: string;
  main: string;
  nodeFlags: readonly string[];
  port: number;
  env: NodeJS.ProcessEnv;
}

const KINDS = [
  {
    name: 'projectors',
    main: 'projectors/main.ts',
    nodeFlags: [],
    portSetting: 'PROJECTOR_PORT',
    port: DEFAULTS.PROJECTOR_PORT,
    user: 'projectors',
  },
  {
    name: 'command-api',
    main: 'command-api/main.ts',
    nodeFlags: COMMAND_API_NODE_FLAGS,
    portSetting: 'COMMAND_API_PORT',
    port: DEFAULTS.COMMAND_API_PORT,
    user: 'command-api',
  },
  {
    name: 'query-api',
    main: 'query-api/main.ts',
    nodeFlags: [],
    portSetting: 'QUERY_API_PORT',
    port: DEFAULTS.QUERY_API_PORT,
    user: 'query-api',
  },
] as const;

function servicesToRun(): Service[] {
  if (!shape.cluster) {
    return KINDS.map((kind) => ({
      name: kind.name,
      main: kind.main,
      nodeFlags: kind.nodeFlags,
      port: Number(env[kind.portSetting] ?? kind.port),
      env,
    }));
  }
  const kafka = launcherCluster(() => ensureArtifacts(say), DEFAULTS.TOPIC_PARTITIONS);
  const database = launcherDatabase();
  // The shape's own database: each service's URL comes from a file.
  const base = Object.fromEntries(Object.entries(env).filter(([name]) => name !== 'DATABASE_URL'));
  return KINDS.flatMap((kind) =>
    clusterInstancePorts(Number(env[kind.portSetting] ?? kind.port)).map((port, i) => ({
      name: `${kind.name}-${i + 1}`,
      main: kind.main,
      nodeFlags: kind.nodeFlags,
      port,
      env: { ...base, ...kafka.envFor(kind.user), ...database.envFor(kind.user), [kind.portSetting]: String(port) },
    })),
  );
}

/** Signals this close together are one Ctrl-C: npm passes the terminal's on to its script, which has it already. */
const SAME_PRESS_MS = 250;

const children: ChildProcess[] = [];
let stopping: Promise<never> | undefined;
let presses = 0;
let lastPress = 0;

/**
 * Ctrl-C (or SIGTERM): the first stops the services gracefully, then the infrastructure this run
 * started; the second says it is still stopping; any more kill the services at once, after which
 * the infrastructure is stopped all the same. Handled before anything starts, so that no signal
 * ends the launcher with Kafka or Postgres left running.
 */
function onSignal(): void {
  const now = Date.now();
  if (now - lastPress < SAME_PRESS_MS) return;
  lastPress = now;
  presses += 1;
  if (presses === 1) void stopAll(0);
  else if (presses === 2)
    say('still stopping; Ctrl-C again kills the services at once (the infrastructure is stopped all the same)');
  else for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const starting = infraUp(say, env, shape);

function stopAll(code: number): Promise<never> {
  stopping ??= (async () => {
    say('stopping');
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    const running = children.filter((c) => c.exitCode === null);
    await Promise.all(running.map((c) => new Promise((resolve) => c.once('exit', resolve))));
    // A signal during startup waits for it: what it started is then stopped too.
    const started = await starting.catch(() => []);
    await infraDown(say, started, env, shape);
    say('stopped');
    process.exit(code);
  })();
  return stopping;
}

await starting.catch((err: unknown) => exitWithFailure('start', err));
if (stopping) await stopping;
const SERVICES = servicesToRun();

for (const service of SERVICES) {
  const child = spawn(process.execPath, [...service.nodeFlags, '--import', 'tsx', path.join(REPO_ROOT, service.main)], {
    env: service.env,
    stdio: 'inherit',
  });
  child.once('exit', (code) => {
    if (stopping) return;
    say(`${service.name} exited (code ${code}); stopping everything`);
    void stopAll(1);
  });
  children.push(child);
}

const deadline = Date.now() + 60_000;
for (const service of SERVICES) {
  const url = `http://${host}:${service.port}/health/ready`;
  while (
    !(await fetch(url).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline) {
      say(`${service.name} is not ready at ${url} after 60s`);
      await stopAll(1);
    }
    await delay(250);
  }
}
const addresses = (kind: string, suffix = '') =>
  SERVICES.filter((s) => s.main.startsWith(kind))
    .map((s) => `http://${host}:${s.port}${suffix}`)
    .join('  ');
say(
  `the movie catalogue is running${shape.cluster ? ' in the production shape (secured three-node Kafka cluster, two instances of each service)' : ''}:`,
);
say(`  commands  ${addresses('command-api')}   (npm run token -- --sub alice --roles user)`);
say(`  queries   ${addresses('query-api')}`);
say(`  projector ${addresses('projectors', '/metrics')}`);
say('Ctrl-C stops it.');

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { DEFAULTS } from '../shared/defaults.ts';
import { delay } from './daemon.ts';
import { exitWithFailure } from './fail.ts';
import { developmentEventIdSecret, developmentJwtSecret } from './dev-secret.ts';
import { infraDown, infraUp } from './infra.ts';
import { REPO_ROOT } from './paths.ts';

/**
 * `npm start`: the whole system on local defaults. Brings up the infrastructure that is not
 * running, then the three services in the foreground; Ctrl-C stops the services gracefully and
 * then the infrastructure this run started.
 */
const say = (line: string) => console.log(`start: ${line}`);
// A development HS256 secret, unless the command API is told to check tokens another way.
const asymmetric = Boolean(process.env.JWT_PUBLIC_KEY || process.env.JWT_JWKS_URL);
const env: NodeJS.ProcessEnv = {
  ...process.env,
  ...(asymmetric ? {} : { JWT_SECRET: developmentJwtSecret() }),
  EVENT_ID_SECRET: developmentEventIdSecret(),
};
const host = env.HOST ?? DEFAULTS.HOST;

const SERVICES = [
  { name: 'projectors', main: 'projectors/main.ts', port: Number(env.PROJECTOR_PORT ?? DEFAULTS.PROJECTOR_PORT) },
  { name: 'command-api', main: 'command-api/main.ts', port: Number(env.COMMAND_API_PORT ?? DEFAULTS.COMMAND_API_PORT) },
  { name: 'query-api', main: 'query-api/main.ts', port: Number(env.QUERY_API_PORT ?? DEFAULTS.QUERY_API_PORT) },
];

const started = await infraUp(say, env).catch((err: unknown) => exitWithFailure('start', err));

const children: ChildProcess[] = [];
let stopping = false;

async function stopAll(code: number): Promise<never> {
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  const running = children.filter((c) => c.exitCode === null);
  await Promise.all(running.map((c) => new Promise((resolve) => c.once('exit', resolve))));
  await infraDown(say, started, env);
  process.exit(code);
}

for (const service of SERVICES) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, service.main)], {
    env,
    stdio: 'inherit',
  });
  child.once('exit', (code) => {
    if (stopping) return;
    say(`${service.name} exited (code ${code}); stopping everything`);
    void stopAll(1);
  });
  children.push(child);
}
process.once('SIGINT', () => void stopAll(0));
process.once('SIGTERM', () => void stopAll(0));

const deadline = Date.now() + 60_000;
for (const service of SERVICES) {
  const url = `http://${host}:${service.port}/health/ready`;
  while (!(await fetch(url).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline) {
      say(`${service.name} is not ready at ${url} after 60s`);
      await stopAll(1);
    }
    await delay(250);
  }
}
say('the movie catalogue is running:');
say(`  commands  http://${host}:${SERVICES[1]!.port}   (npm run token -- --sub alice --roles user)`);
say(`  queries   http://${host}:${SERVICES[2]!.port}`);
say(`  projector http://${host}:${SERVICES[0]!.port}/metrics`);
say('Ctrl-C stops it.');

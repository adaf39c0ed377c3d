import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { exitWithFailure } from './fail.ts';
import { OPS_TOOLS, ensureOpsTools, toolCommand } from './ops-tools.ts';
import { REPO_ROOT } from './paths.ts';

/**
 * `npm run check:ops` (in CI): the alert rules parse and pass their unit tests, Prometheus's
 * configuration (with the rule files it names) loads, and docker-compose.yml is a valid compose
 * file. Installs promtool and docker-compose first when they are missing (see ops-tools.ts).
 * Nothing is started: no Prometheus, no containers.
 */
const say = (line: string) => console.log(`check:ops: ${line}`);

/** compose refuses to render without them; any 32+ characters do for a syntax check. */
const COMPOSE_ENV = {
  JWT_SECRET: 'check-ops-dummy-jwt-secret-0123456789',
  EVENT_ID_SECRET: 'check-ops-dummy-event-id-secret-0123456789',
};

interface Check {
  name: string;
  command: readonly string[];
  env?: Record<string, string>;
  input?: string;
}

/**
 * Docker's compose plugin checks the file as it is. Debian's docker-compose (1.29) predates the
 * top-level `name` (the project's name, which keeps volume names stable whatever the folder is
 * called) and refuses it, so it checks the rest: the file without that line, from stdin, with the
 * repository as the project directory so relative paths resolve as they do for the real file.
 * test/unit/compose.unit.spec.ts checks `name` itself.
 */
function composeCheck(): Check {
  const compose = toolCommand(OPS_TOOLS.find((tool) => tool.name === 'docker-compose')!)!;
  if (compose[0] === 'docker')
    return {
      name: 'docker-compose.yml',
      command: [...compose, '-f', 'docker-compose.yml', 'config', '-q'],
      env: COMPOSE_ENV,
    };
  const file = readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
  const withoutName = file.replace(/^name: .*\n/m, '');
  return {
    name: 'docker-compose.yml (without its top-level name, for docker-compose 1.x)',
    command: [...compose, '-f', '-', '--project-directory', REPO_ROOT, 'config', '-q'],
    env: COMPOSE_ENV,
    input: withoutName,
  };
}

try {
  ensureOpsTools(say);
} catch (err) {
  exitWithFailure('check:ops', err);
}

const checks: Check[] = [
  { name: 'alert rules', command: ['promtool', 'check', 'rules', 'infra/prometheus/alerts.yml'] },
  { name: 'alert rule tests', command: ['promtool', 'test', 'rules', 'infra/prometheus/alerts.test.yml'] },
  { name: 'prometheus config', command: ['promtool', 'check', 'config', 'infra/prometheus/prometheus.yml'] },
  composeCheck(),
];

let failed = 0;
for (const check of checks) {
  const [command, ...args] = check.command;
  const result = spawnSync(command!, args, {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...check.env },
    input: check.input,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  if (result.status === 0) {
    say(`${check.name}: ok`);
  } else {
    failed += 1;
    say(`${check.name}: FAILED (${check.command.join(' ')})\n${result.error?.message ?? output}`);
  }
}
if (failed > 0) process.exit(1);

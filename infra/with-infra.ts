import { spawn } from 'node:child_process';
import { exitWithFailure } from './fail.ts';
import { infraDown, infraUp } from './infra.ts';

/**
 * `tsx infra/with-infra.ts <command...>`: brings up the local infrastructure that is not running,
 * runs the command, then stops only what it started, so a developer's running system is left
 * alone and a clean machine is left clean.
 */
const say = (line: string) => console.log(`infra: ${line}`);
const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: tsx infra/with-infra.ts <command> [args...]');
  process.exit(2);
}

const started = await infraUp(say).catch((err: unknown) => exitWithFailure('infra', err));
const code = await new Promise<number>((resolve) => {
  const child = spawn(command, args, { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  child.on('error', (err) => {
    console.error(`cannot run ${command}: ${err.message}`);
    resolve(127);
  });
});
await infraDown(say, started);
process.exit(code);

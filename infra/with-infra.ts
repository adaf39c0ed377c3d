import { spawn, type ChildProcess } from 'node:child_process';
import { exitWithFailure } from './fail.ts';
import { infraDown, infraUp } from './infra.ts';

/**
 * `node --import tsx infra/with-infra.ts <command...>`: brings up the local infrastructure that is not running,
 * runs the command, then stops only what it started, so a developer's running system is left
 * alone and a clean machine is left clean.
 */
const say = (line: string) => console.log(`infra: ${line}`);
const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node --import tsx infra/with-infra.ts <command> [args...]');
  process.exit(2);
}

let child: ChildProcess | undefined;
let interrupted = false;
// Handled from the start: a Ctrl-C while the infrastructure comes up still ends in stopping it.
const forward = (signal: NodeJS.Signals) => {
  interrupted = true;
  child?.kill(signal);
};
process.on('SIGINT', forward);
process.on('SIGTERM', forward);

const started = await infraUp(say).catch((err: unknown) => exitWithFailure('infra', err));
const code = interrupted
  ? 130
  : await new Promise<number>((resolve) => {
      child = spawn(command, args, { stdio: 'inherit' });
      child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
      child.on('error', (err) => {
        console.error(`cannot run ${command}: ${err.message}`);
        resolve(127);
      });
    });
await infraDown(say, started);
process.exit(code);

import { exitWithFailure } from './fail.ts';
import { infraDown, infraStatus, infraUp } from './infra.ts';

const say = (line: string) => console.log(`infra: ${line}`);
const [name, ...options] = process.argv.slice(2);
const unknown = options.filter((option) => option !== '--cluster');
const shape = { cluster: options.includes('--cluster') };
const commands: Record<string, () => Promise<unknown>> = {
  up: () => infraUp(say, process.env, shape),
  down: () => infraDown(say, undefined, process.env, shape),
  status: () => infraStatus(say, process.env, shape),
};

const command = commands[name ?? ''];
if (!command || unknown.length > 0) {
  console.error('usage: tsx infra/cli.ts up|down|status [--cluster]');
  process.exit(2);
}
await command().catch((err: unknown) => exitWithFailure('infra', err));

import { exitWithFailure } from './fail.ts';
import { infraDown, infraStatus, infraUp } from './infra.ts';

const say = (line: string) => console.log(`infra: ${line}`);
const commands: Record<string, () => Promise<unknown>> = {
  up: () => infraUp(say),
  down: () => infraDown(say),
  status: () => infraStatus(say),
};

const command = commands[process.argv[2] ?? ''];
if (!command) {
  console.error('usage: tsx infra/cli.ts up|down|status');
  process.exit(2);
}
await command().catch((err: unknown) => exitWithFailure('infra', err));

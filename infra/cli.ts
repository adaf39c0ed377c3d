import { ConfigError } from '../shared/config.ts';
import { StartupError } from './daemon.ts';
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
try {
  await command();
} catch (err) {
  if (err instanceof StartupError || err instanceof ConfigError) {
    console.error(`infra: ${err.message}`);
    process.exit(1);
  }
  throw err;
}

import { ConfigError } from '../shared/config.ts';
import { StartupError } from './daemon.ts';

/** Ends a launcher command: expected failures as a plain message, anything else as the bug it is. */
export function exitWithFailure(prefix: string, err: unknown): never {
  if (err instanceof StartupError || err instanceof ConfigError) {
    console.error(`${prefix}: ${err.message}`);
    process.exit(1);
  }
  throw err;
}

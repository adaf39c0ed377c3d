import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError } from '../shared/config.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { loadProjectorConfig, type ProjectorConfig } from './config.ts';

export interface ToolCli {
  positionals: string[];
  /** Whether a flag (an option without a value) was given. */
  flag: (name: string) => boolean;
  /** An option's value, when given; never empty. */
  value: (name: string) => string | undefined;
  /** Prints the message and the usage on stderr and exits 2. */
  usage: (message: string) => never;
  /** The projectors' configuration from the environment; a bad one exits 1 with its message. */
  config: () => ProjectorConfig;
  /** Logs go to stderr, so that what the tool prints on stdout stays readable. */
  logger: () => Logger;
}

/**
 * The command line of an operators' tool (replay, dlq), read alike by both: `--help` prints the
 * usage; an unknown option, a flag given a value or an option given none exits 2 with the usage.
 */
export function toolCli(
  name: string,
  usageText: string,
  known: { flags: readonly string[]; values: readonly string[] },
): ToolCli {
  const usage = (message: string): never => {
    process.stderr.write(`${message}\n${usageText}\n`);
    process.exit(2);
  };
  const options: Record<string, { type: 'boolean' | 'string' }> = { help: { type: 'boolean' } };
  for (const flag of known.flags) options[flag] = { type: 'boolean' };
  for (const option of known.values) options[option] = { type: 'string' };
  // Not strict: the checks below name the option, where parseArgs's own errors would not say what to do.
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    strict: false,
    options,
  });
  if (values.help === true) {
    process.stdout.write(`${usageText}\n`);
    process.exit(0);
  }
  for (const [option, value] of Object.entries(values)) {
    if (option === 'help' || known.flags.includes(option)) {
      if (value !== true) usage(`--${option} takes no value`);
    } else if (!known.values.includes(option)) {
      usage(`unknown option --${option}`);
    } else if (typeof value !== 'string' || value === '') {
      usage(`--${option} needs a value`);
    }
  }
  return {
    positionals,
    flag: (flag) => values[flag] === true,
    value: (option) => values[option] as string | undefined,
    usage,
    config: () => {
      try {
        return loadProjectorConfig();
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`${name}: ${err.message}\n`);
        process.exit(1);
      }
    },
    logger: () => createLogger(name, process.env.LOG_LEVEL ?? 'warn', pino.destination(2)),
  };
}

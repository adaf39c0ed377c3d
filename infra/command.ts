import { spawnSync, type SpawnSyncOptions } from 'node:child_process';

export interface CommandResult {
  ok: boolean;
  /** stdout and stderr, or why there are none. */
  output: string;
}

/**
 * Runs a command to completion. A command that could not be started (missing, or not
 * executable by the account it runs as) has no output at all, so its spawn error stands in for
 * it; one killed by a signal says which.
 */
export function runCommand(
  command: string,
  args: string[],
  options: Pick<SpawnSyncOptions, 'cwd' | 'uid' | 'gid' | 'env'> = {},
): CommandResult {
  const result = spawnSync(command, args, { ...options, encoding: 'utf8' });
  if (result.error) return { ok: false, output: `could not run ${command}: ${result.error.message}` };
  const output = `${result.stdout}${result.stderr}`;
  if (result.signal !== null) return { ok: false, output: `${output}${command} was killed by ${result.signal}` };
  return { ok: result.status === 0, output };
}

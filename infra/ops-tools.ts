import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { runCommand } from './command.ts';
import { StartupError } from './daemon.ts';

/**
 * The tools `npm run check:ops` checks the operations files with: promtool from Debian's
 * `prometheus` package, `docker-compose` from Debian's `docker-compose`. Missing ones are
 * installed with apt-get (as root, which CI is), without recommends (docker-compose would bring
 * the whole Docker engine). The `prometheus` package also ships the server: its postinst links
 * the init script into the runlevels, enables the systemd unit and asks invoke-rc.d to start it
 * (which, without an init system, finds no runlevel and starts nothing, but a machine with one
 * would run a server on :9090, the compose Prometheus's port). Nothing here needs a Prometheus
 * running, so services are held back during the install (policy-rc.d) and the server is
 * disabled after it.
 */
export const OPS_TOOLS = [
  { name: 'promtool', debianPackage: 'prometheus', commands: [{ run: ['promtool'], probe: ['--version'] }] },
  {
    name: 'docker-compose',
    debianPackage: 'docker-compose',
    // Docker's own compose plugin does as well where Docker is installed.
    commands: [
      { run: ['docker', 'compose'], probe: ['version'] },
      { run: ['docker-compose'], probe: ['version', '--short'] },
    ],
  },
] as const;

export type OpsTool = (typeof OPS_TOOLS)[number];

const POLICY_RC_D = '/usr/sbin/policy-rc.d';
/** invoke-rc.d's answer for "action forbidden by policy": the package's scripts start nothing. */
const POLICY_DENY = 101;

export type Say = (line: string) => void;

/** How to run the tool here: the first of its commands that answers its probe, if any does. */
export function toolCommand(tool: OpsTool): readonly string[] | undefined {
  for (const { run, probe } of tool.commands) {
    const [command, ...args] = run;
    if (runCommand(command, [...args, ...probe]).ok) return run;
  }
  return undefined;
}

/** Installs the Debian packages of the tools that do not run here; a no-op when all do. */
export function ensureOpsTools(say: Say): void {
  const missing = OPS_TOOLS.filter((tool) => !toolCommand(tool));
  if (missing.length === 0) return;
  const packages = missing.map((tool) => tool.debianPackage);
  const names = missing.map((tool) => tool.name).join(', ');
  if (process.getuid?.() !== 0 || !runCommand('apt-get', ['--version']).ok) {
    throw new StartupError(
      `${names} not found; install them (Debian: apt-get install --no-install-recommends ${packages.join(' ')}) or run this as root`,
    );
  }
  say(`${names} not found: installing ${packages.join(', ')} with apt-get`);
  withServicesHeldBack(() => {
    apt(['update', '-qq']);
    apt(['install', '-y', '-qq', '--no-install-recommends', ...packages]);
  });
  if (packages.includes('prometheus')) disablePrometheusServer(say);
  const still = missing.filter((tool) => !toolCommand(tool));
  if (still.length > 0)
    throw new StartupError(
      `${still.map((t) => t.name).join(', ')} still not runnable after installing ${packages.join(', ')}`,
    );
  say(`installed ${packages.join(', ')}`);
}

function apt(args: string[]): void {
  const result = spawnSync('apt-get', args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (result.status !== 0)
    throw new StartupError(
      `apt-get ${args.join(' ')} failed:\n${result.error?.message ?? `${result.stdout}${result.stderr}`}`,
    );
}

/**
 * Runs `install` with a policy-rc.d that forbids starting services, unless the machine has one
 * that does already (container images usually do); the machine's own is put back after.
 */
function withServicesHeldBack(install: () => void): void {
  if (existsSync(POLICY_RC_D) && spawnSync(POLICY_RC_D, ['prometheus', 'start']).status === POLICY_DENY)
    return install();
  const backup = `${POLICY_RC_D}.movie-catalogue-backup`;
  const had = existsSync(POLICY_RC_D);
  if (had) renameSync(POLICY_RC_D, backup);
  writeFileSync(
    POLICY_RC_D,
    `#!/bin/sh\n# Written by movie-catalogue's infra/ops-tools.ts for one apt-get install; removed after it.\nexit ${POLICY_DENY}\n`,
    { mode: 0o755 },
  );
  try {
    install();
  } finally {
    rmSync(POLICY_RC_D, { force: true });
    if (had) renameSync(backup, POLICY_RC_D);
  }
}

/**
 * The package's postinst links the init script into the runlevels and enables the systemd unit
 * (inert without an init system, but a reboot would start the server); a service disabled with
 * update-rc.d stays disabled across upgrades. Should a server have started anyway (a
 * policy-rc.d that allowed it), its init script stops it by its pid file.
 */
function disablePrometheusServer(say: Say): void {
  const sysv = runCommand('update-rc.d', ['prometheus', 'disable']);
  if (!sysv.ok) say(`warning: update-rc.d prometheus disable: ${sysv.output.trim()}`);
  if (existsSync('/run/systemd/system')) {
    const unit = runCommand('systemctl', ['disable', 'prometheus.service']);
    if (!unit.ok) say(`warning: systemctl disable prometheus.service: ${unit.output.trim()}`);
  } else {
    // What `systemctl disable` would remove; no systemd runs here to be asked.
    rmSync('/etc/systemd/system/multi-user.target.wants/prometheus.service', { force: true });
  }
  const pidFile = '/run/prometheus/prometheus.pid';
  if (existsSync(pidFile) && existsSync('/etc/init.d/prometheus')) {
    say(`the package started a Prometheus server (pid ${readFileSync(pidFile, 'utf8').trim()}): stopping it`);
    const stop = runCommand('/etc/init.d/prometheus', ['stop']);
    if (!stop.ok) throw new StartupError(`could not stop the Prometheus server the package started:\n${stop.output}`);
  }
}

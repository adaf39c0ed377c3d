import { randomBytes } from 'node:crypto';
import { calmAcceptance } from './availability.ts';
import { injectFaults, type FaultLog, type FaultPlan } from './faults.ts';
import { startLoad } from './load.ts';
import { startServices } from './processes.ts';
import { verify, type Check } from './verify.ts';
import { startWorld } from './world.ts';

export interface ChaosOptions extends FaultPlan {
  /** Run on the secured three-node cluster, with the cluster's faults in place of the one broker's restart. */
  cluster?: boolean;
  /** Keep the services' logs even when every check passes. */
  keepLogs?: boolean;
  /** Commands per second the load aims at. */
  rate: number;
  /** Seconds of load before the first fault and after the last. */
  calmSeconds: number;
  seed: number;
  say(line: string): void;
}

export interface ChaosReport {
  seconds: number;
  injected: Map<string, number>;
  checks: Check[];
}

/**
 * One fault run: its own broker and Postgres, the whole system as processes, the load, the
 * faults one after another, then every check. Everything it started is stopped, pass or fail.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const say = (line: string) => options.say(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
  say(
    `run ${runId}, seed ${options.seed}: starting ${options.cluster ? 'a secured three-node Kafka cluster' : 'a broker'} and Postgres of its own`,
  );
  const world = await startWorld(runId, say, { cluster: options.cluster ?? false });
  let passed = false;
  try {
    say('starting command-api x2, query-api, projectors x3');
    const system = await startServices(world);
    try {
      const faults: FaultLog = { say, injected: new Map(), poison: [], windows: [] };
      say(`load: ${options.rate} commands/s`);
      const load = startLoad({
        commandApis: system.commandApis,
        queryApi: system.queryApi,
        rate: options.rate,
        seed: options.seed,
      });
      const calm: Array<[number, number]> = [];
      const calmPhase = async () => {
        const from = Date.now();
        await new Promise((resolve) => setTimeout(resolve, options.calmSeconds * 1000));
        calm.push([from, Date.now()]);
      };
      try {
        await calmPhase();
        await injectFaults(world, system, options, faults, options.seed);
        say('faults done; the load runs on calmly');
        await calmPhase();
      } finally {
        await load.stop();
      }
      say(`load stopped after ${load.records.length} commands; waiting for the projections, then checking`);
      const checks = [calmAcceptance(load.records, calm), ...(await verify(world, system, load, faults))];
      passed = checks.every((c) => c.ok);
      return { seconds: (Date.now() - started) / 1000, injected: faults.injected, checks };
    } finally {
      await system.stop();
    }
  } finally {
    const keepLogs = !passed || options.keepLogs === true;
    await world.stop({ keepLogs });
    if (keepLogs) say(`the services' logs are in ${world.dir}`);
  }
}

/** The report as a table; the last line says PASS or FAIL. */
export function formatReport(report: ChaosReport): string {
  const rows = report.checks.map((c) => [c.ok ? 'ok' : 'FAIL', c.check, c.found]);
  const width = Math.max(...rows.map((r) => r[1]!.length));
  const faults = [...report.injected].map(([fault, n]) => `${fault} x${n}`).join(', ');
  const failed = report.checks.filter((c) => !c.ok).length;
  return [
    `faults: ${faults}`,
    ...rows.map(([mark, check, found]) => `${mark!.padEnd(4)} ${check!.padEnd(width)}  ${found}`),
    failed === 0
      ? `PASS in ${report.seconds.toFixed(0)} s`
      : `FAIL: ${failed} check(s) in ${report.seconds.toFixed(0)} s`,
  ].join('\n');
}

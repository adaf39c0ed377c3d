import { eventually } from '../harness/eventually.ts';

/** Waits until a service's readiness (or another `path`) answers 200, or fails after a minute. */
export async function waitUntilReady(base: string, path = '/health/ready'): Promise<void> {
  await eventually(async () => {
    const response = await fetch(`${base}${path}`);
    if (response.status !== 200) throw new Error(`${base} not ready: ${response.status}`);
  }, 60_000);
}

/** The sum over every series of `metric` in a Prometheus exposition. */
export function metricTotal(exposition: string, metric: string): number {
  return exposition
    .split('\n')
    .filter((line) => line.startsWith(`${metric}{`) || line.startsWith(`${metric} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** Node flags that write a CPU profile of a service into /tmp/prof when BENCH_CPU_PROF is set. */
export const profileFlags = (): string[] =>
  process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [];

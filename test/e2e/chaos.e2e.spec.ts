import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReport, runChaos, type ChaosOptions } from '../chaos/run.ts';

/**
 * The shortened form of `npm run chaos`: the same system, load, faults and checks, with fewer
 * kills and shorter outages, so that every change meets every kind of fault before it lands.
 */
describe('the whole system under faults (short chaos runs)', () => {
  async function shortRun(
    plan: Pick<ChaosOptions, 'cluster' | 'projectorKills' | 'brokerDownMs' | 'postgresDownMs'>,
  ): Promise<void> {
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
    const lines: string[] = [];
    const report = await runChaos({
      seed,
      rate: 40,
      calmSeconds: 5,
      poisonRecords: 4,
      say: (line) => lines.push(line),
      ...plan,
    });
    const table = formatReport(report);
    assert.ok(
      report.checks.every((c) => c.ok),
      `seed ${seed} (CHAOS_SEED=${seed} repeats the run's choices):\n${lines.join('\n')}\n${table}`,
    );
  }

  it('on one broker: loses nothing acknowledged, doubles nothing, and every read model equals the fold of the log', () =>
    shortRun({ projectorKills: 5, brokerDownMs: 5000, postgresDownMs: 10_000 }));

  it('on the secured cluster, with leaders, the controller and two nodes at once killed: the same', () =>
    shortRun({ cluster: true, projectorKills: 2, brokerDownMs: 4000, postgresDownMs: 5000 }));
});

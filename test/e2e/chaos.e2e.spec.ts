import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReport, runChaos } from '../chaos/run.ts';

/**
 * The shortened form of `npm run chaos`: the same system, load, faults and checks, with fewer
 * kills and shorter outages, so that every change meets every kind of fault before it lands.
 */
describe('the whole system under faults (short chaos run)', () => {
  it('loses nothing acknowledged, doubles nothing, and every read model equals the fold of the log', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
    const lines: string[] = [];
    const report = await runChaos({
      seed,
      rate: 40,
      calmSeconds: 5,
      projectorKills: 5,
      brokerDownMs: 5000,
      postgresDownMs: 10_000,
      poisonRecords: 4,
      say: (line) => lines.push(line),
    });
    const table = formatReport(report);
    assert.ok(
      report.checks.every((c) => c.ok),
      `seed ${seed} (CHAOS_SEED=${seed} repeats the run's choices):\n${lines.join('\n')}\n${table}`,
    );
  });
});

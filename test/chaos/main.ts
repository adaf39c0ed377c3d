import { formatReport, runChaos } from './run.ts';

/**
 * `npm run chaos [-- --cluster]`: the full fault run (a shortened one is part of `npm test`), on
 * one broker, or on the secured three-node cluster with its own faults. Settings by
 * environment: CHAOS_SEED, CHAOS_RATE (commands/s), CHAOS_KILLS, CHAOS_BROKER_DOWN_S,
 * CHAOS_POSTGRES_DOWN_S; CHAOS_KEEP_LOGS=1 keeps the services' logs (a failed run always does).
 * Exits 1 when any check fails.
 */
const setting = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) {
    process.stderr.write(`chaos: ${name} must be a non-negative number, got ${process.env[name]}\n`);
    process.exit(2);
  }
  return value;
};

const options = process.argv.slice(2);
if (options.some((option) => option !== '--cluster')) {
  process.stderr.write('usage: npm run chaos [-- --cluster]\n');
  process.exit(2);
}

const report = await runChaos({
  cluster: options.includes('--cluster'),
  seed: setting('CHAOS_SEED', Date.now() % 1_000_000),
  rate: setting('CHAOS_RATE', 80),
  calmSeconds: 10,
  projectorKills: setting('CHAOS_KILLS', 24),
  brokerDownMs: setting('CHAOS_BROKER_DOWN_S', 20) * 1000,
  postgresDownMs: setting('CHAOS_POSTGRES_DOWN_S', 60) * 1000,
  poisonRecords: 8,
  keepLogs: process.env.CHAOS_KEEP_LOGS === '1',
  say: (line) => process.stdout.write(`chaos ${line}\n`),
});
process.stdout.write(`${formatReport(report)}\n`);
process.exit(report.checks.every((c) => c.ok) ? 0 : 1);

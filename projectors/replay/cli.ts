/**
 * `npm run replay -- <projection|all> [--dry-run] [--keep-old] [--drop-old-after-seconds N]`
 * `npm run replay -- drop-old <projection|all>`
 * Rebuilds projections from the log (rebuild.ts) with the projectors' configuration (the same
 * environment variables), or drops the schemas earlier swaps kept.
 */
import { createPool } from '../../shared/db/pool.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { createMetrics } from '../../shared/metrics.ts';
import type { Projection } from '../projection.ts';
import { catalogueProjections } from '../projections.ts';
import { toolCli } from '../tool-cli.ts';
import { progressBlock, progressLine, summaryLines } from './progress-view.ts';
import { RebuildBusyError, rebuildProjection, type RebuildProgress } from './rebuild.ts';
import { dropSchema, offsetsIn, oldSchemas, schemaExists, shadowSchemaOf } from './shadow.ts';

const USAGE = `usage: npm run replay -- <projection|all> [--dry-run] [--keep-old] [--drop-old-after-seconds N]
       npm run replay -- drop-old <projection|all> [--dry-run]
projections: movie-details, ratings
  --dry-run                   say what would be done, change nothing
  --keep-old                  keep the replaced tables (drop them later with drop-old)
  --drop-old-after-seconds N  how long the replaced tables stay for reads still on them (default 30)`;

const cli = toolCli('replay', USAGE, { flags: ['dry-run', 'keep-old'], values: ['drop-old-after-seconds'] });
const dropOld = cli.positionals[0] === 'drop-old';
const names = dropOld ? cli.positionals.slice(1) : cli.positionals;
if (names.length !== 1) cli.usage('name one projection, or all');
const graceText = cli.value('drop-old-after-seconds');
const graceSeconds = graceText === undefined ? 30 : Number(graceText);
if (!Number.isInteger(graceSeconds) || graceSeconds < 0)
  cli.usage('--drop-old-after-seconds must be a whole number of seconds');
const [dryRunOnly, keepOld] = [cli.flag('dry-run'), cli.flag('keep-old')];
const config = cli.config();

const projections = catalogueProjections(config.topics);
const chosen: Projection[] = names[0] === 'all' ? projections : projections.filter((p) => p.name === names[0]);
if (chosen.length === 0) cli.usage(`no projection ${JSON.stringify(names[0])}`);

const logger = cli.logger();
const pool = createPool(config.databaseUrl, config.poolSize, logger);
const kafka = createKafka('replay', config.kafka, logger);
const out = (line: string) => process.stdout.write(`${line}\n`);

async function dryRun(projection: Projection): Promise<void> {
  const shadow = shadowSchemaOf(projection.schema);
  const resuming = await schemaExists(pool, shadow);
  const sum = (offsets: Map<number, number>) => [...offsets.values()].reduce((a, b) => a + b, 0);
  const from = resuming ? sum(await offsetsIn(pool, shadow, projection.topic)) : 0;
  const admin = kafka.admin();
  await admin.connect();
  const end = (await admin.fetchTopicOffsets(projection.topic)).reduce((s, p) => s + Number(p.high), 0);
  await admin.disconnect();
  const liveAt = sum(await offsetsIn(pool, projection.schema, projection.topic));
  out(`${projection.name}: would rebuild schema ${projection.schema} from topic ${projection.topic} into ${shadow}`);
  const events = (n: number) => `${n.toLocaleString('en-US')} event${n === 1 ? '' : 's'}`;
  out(
    `  ${resuming ? `resuming the rebuild left there at ${events(from)}` : 'from offset 0 (no rebuild to resume)'}; the live projection has applied ${events(liveAt)}, the log holds ${events(end)}`,
  );
  out(
    `  then swap ${shadow} in as ${projection.schema} in one transaction; the old tables ${keepOld ? 'kept' : `dropped ${graceSeconds} s later`}`,
  );
  const old = await oldSchemas(pool, projection.schema);
  if (old.length > 0) out(`  replaced tables kept from earlier rebuilds: ${old.join(', ')}`);
}

function progressPrinter(): (progress: RebuildProgress) => void {
  if (!process.stdout.isTTY) {
    let last = 0;
    return (progress) => {
      if (progress.phase === 'rebuilding' && performance.now() - last < 5000) return;
      last = performance.now();
      out(progressLine(progress));
    };
  }
  let drawn = 0;
  let last = 0;
  return (progress) => {
    if (progress.phase === 'rebuilding' && performance.now() - last < 200) return;
    last = performance.now();
    const lines = progressBlock(progress, Math.max(10, Math.min(40, (process.stdout.columns ?? 80) - 60)));
    // Up over the block drawn before, then each line cleared and drawn again.
    process.stdout.write(`${drawn > 0 ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`);
    drawn = lines.length;
  };
}

let exitCode = 0;
try {
  for (const projection of chosen) {
    if (dropOld) {
      const old = await oldSchemas(pool, projection.schema);
      if (!dryRunOnly) for (const schema of old) await dropSchema(pool, schema);
      out(
        `${projection.name}: ${old.length === 0 ? 'no replaced tables to drop' : `${dryRunOnly ? 'would drop' : 'dropped'} ${old.join(', ')}`}`,
      );
    } else if (dryRunOnly) {
      await dryRun(projection);
    } else {
      const summary = await rebuildProjection(
        {
          kafka,
          pool,
          registry: config.registry,
          deadLetterTopics: config.deadLetterTopics,
          logger,
          metrics: createMetrics('replay'),
          tuning: config.tuning,
        },
        projection,
        { dropOldAfterMs: keepOld ? undefined : graceSeconds * 1000, onProgress: progressPrinter() },
      );
      for (const line of summaryLines(summary)) out(line);
    }
  }
  if (dryRunOnly) out('dry run: nothing was changed');
} catch (err) {
  exitCode = err instanceof RebuildBusyError ? 3 : 1;
  process.stderr.write(`replay: ${(err as Error).message}\n`);
  if (exitCode === 1)
    process.stderr.write('replay: what was rebuilt so far is kept; run the same command again to go on from there\n');
} finally {
  await pool.end();
}
process.exit(exitCode);

/**
 * `npm run dlq -- list [--projection P] [--code C] [--key K] [--since T] [--until T]`
 * `npm run dlq -- show <topic> <partition> <offset>`
 * `npm run dlq -- redrive (--key K | --since T | --until T | --all) [--projection P] [--code C] [--leave-dead-letter] [--execute] [--by NAME]`
 * What the projections dead-lettered, from their `dead_letters` tables; one record as the log
 * holds it, decoded when it can be, with every header; and redrives (redrive.ts), a dry run
 * unless --execute. The projectors' settings.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPool } from '../../shared/db/pool.ts';
import { EventDecoder } from '../../shared/kafka/decoder.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import type { Projection } from '../projection.ts';
import { catalogueProjections } from '../projections.ts';
import { toolCli } from '../tool-cli.ts';
import { readRecord } from './read-record.ts';
import { executeRedrive, findRedrives, planRedrives, type RedriveRecord } from './redrive.ts';
import { findDeadLetters, type DeadLetterEntry, type DeadLetterFilter } from './store.ts';

const USAGE = `usage: npm run dlq -- list [--projection P] [--code C] [--key K] [--since T] [--until T]
       npm run dlq -- show <topic> <partition> <offset>
       npm run dlq -- redrive (--key K | --since T | --until T | --all) [--projection P] [--code C] [--leave-dead-letter] [--execute] [--by NAME]
  redrive prints what it would do unless --execute; --by names who asks (default: the OS user);
  --leave-dead-letter gives up on a record that can never apply: releases its key and re-drives only what it parked
  --projection P  movie-details or ratings (default: both)
  --code C        an error class: not_avro, unknown_schema, invalid_event, ...
  --key K         the record key (a movie id)
  --since/--until T  when it was dead-lettered, as an ISO 8601 time (2026-12-02T10:00:00Z)`;

const cli = toolCli('dlq', USAGE, {
  flags: ['all', 'execute', 'leave-dead-letter'],
  values: ['projection', 'code', 'key', 'since', 'until', 'by'],
});
const { positionals, usage } = cli;
const time = (option: 'since' | 'until'): Date | undefined => {
  const text = cli.value(option);
  if (text === undefined) return undefined;
  const at = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(at.getTime()))
    usage(`--${option} must be an ISO 8601 time, got ${JSON.stringify(text)}`);
  return at;
};
const config = cli.config();
const out = (line: string) => process.stdout.write(`${line}\n`);
const logger = cli.logger();

/** Bytes as text when they are printable UTF-8, else as hex. */
function printable(bytes: Buffer | null | undefined): string {
  if (!bytes) return '(none)';
  const text = bytes.toString('utf8');
  return /^[\x20-\x7e\u00a0-\uffff]*$/u.test(text) && !text.includes('\ufffd') ? text : `0x${bytes.toString('hex')}`;
}

function listing(entries: DeadLetterEntry[]): void {
  const projections = [...new Set(entries.map((e) => e.projection))];
  if (entries.length === 0) out('no dead letters match');
  for (const projection of projections) {
    const mine = entries.filter((e) => e.projection === projection);
    const byCode = new Map<string, DeadLetterEntry[]>();
    for (const e of mine) byCode.set(e.code, [...(byCode.get(e.code) ?? []), e]);
    out(
      `${projection}: ${mine.length} dead letter${mine.length === 1 ? '' : 's'}, ${mine.filter((e) => e.parksKey).length} parking their key`,
    );
    out(`  ${'error class'.padEnd(20)} ${'count'.padStart(6)} ${'keys'.padStart(6)}`);
    for (const [code, letters] of byCode)
      out(
        `  ${code.padEnd(20)} ${String(letters.length).padStart(6)} ${String(new Set(letters.map((l) => l.key)).size).padStart(6)}`,
      );
    out(
      `  ${'position'.padEnd(28)} ${'key'.padEnd(14)} ${'error class'.padEnd(18)} ${'dead-lettered at'.padEnd(24)} reason`,
    );
    for (const e of mine) {
      const position = `${e.topic}/${e.partition}@${e.offset}`;
      out(
        `  ${position.padEnd(28)} ${(e.key ?? '(none)').padEnd(14)} ${e.code.padEnd(18)} ${e.deadLetteredAt.toISOString().padEnd(24)} ${e.parksKey ? '[key parked] ' : ''}${e.message}`,
      );
    }
  }
}

function redrivesListing(redrives: RedriveRecord[]): void {
  if (redrives.length === 0) return;
  out('redrives:');
  for (const r of redrives) {
    out(
      `  ${r.requestedAt.toISOString()} by ${r.requestedBy}: ${r.projection} ${r.key ?? '(no key)'} at ${r.topic}/${r.partition}@${r.deadLetterOffset}, ${r.records} record${r.records === 1 ? '' : 's'}: ${r.outcome ?? 'pending'} (${r.id})`,
    );
  }
}

/** Re-drives what the filter selects, or says what it would do. */
async function redrive(projections: readonly Projection[], filter: DeadLetterFilter): Promise<number> {
  const kafka = createKafka('dlq', config.kafka, logger);
  const letters = await findDeadLetters(pool, projections, filter);
  const { plans, skipped } = await planRedrives(kafka, pool, letters, {
    leaveDeadLetters: cli.flag('leave-dead-letter'),
  });
  for (const { letter, reason } of skipped)
    out(
      `skip ${letter.projection} ${letter.topic}/${letter.partition}@${letter.offset} (${letter.key ?? 'no key'}): ${reason}`,
    );
  if (plans.length === 0) {
    out('nothing to re-drive');
    return 0;
  }
  for (const { letter, records, leavesDeadLetter } of plans) {
    const behind = (leavesDeadLetter ? records : records.slice(1)).map((r) => r.offset);
    const later = `${behind.length} later record${behind.length === 1 ? '' : 's'} of its key${behind.length > 0 ? ` (${behind.join(', ')})` : ''}`;
    const what = leavesDeadLetter
      ? `release the key of the dead letter at ${letter.offset} (${letter.code}), left behind, and re-drive the ${later}`
      : `re-drive the dead letter at ${letter.offset} (${letter.code})${behind.length > 0 ? ` and the ${later}` : ''}`;
    out(
      `${cli.flag('execute') ? 'going to' : 'would'} ${what}: ${letter.projection} ${letter.key ?? '(no key)'} on ${letter.topic}/${letter.partition}`,
    );
  }
  if (!cli.flag('execute')) {
    out('dry run: nothing was written; run again with --execute to re-drive');
    return 0;
  }
  const requestedBy = cli.value('by') ?? os.userInfo().username;
  const ids = [];
  for (const plan of plans)
    ids.push(
      await executeRedrive(
        kafka,
        pool,
        projections.find((p) => p.name === plan.letter.projection)!,
        plan,
        requestedBy,
      ),
    );
  // The live projectors take the copies from here; wait a while to tell what became of them.
  const deadline = performance.now() + 30_000;
  let redrives = await findRedrives(pool, ids);
  while (redrives.some((r) => r.outcome === null) && performance.now() < deadline) {
    await sleep(250);
    redrives = await findRedrives(pool, ids);
  }
  redrivesListing(redrives);
  return redrives.some((r) => r.outcome === 'dead_lettered' || r.outcome === 'parked') ? 1 : 0;
}

const pool = createPool(config.databaseUrl, 2, logger);
let exitCode = 0;
try {
  const projections = catalogueProjections(config.topics);
  const only = cli.value('projection');
  const chosen = only === undefined ? projections : projections.filter((p) => p.name === only);
  if (chosen.length === 0) usage(`no projection ${JSON.stringify(only)}`);
  const filter: DeadLetterFilter = {
    code: cli.value('code'),
    key: cli.value('key'),
    since: time('since'),
    until: time('until'),
  };
  if (positionals[0] === 'list' && positionals.length === 1) {
    listing(await findDeadLetters(pool, chosen, filter));
    redrivesListing((await findRedrives(pool)).filter((r) => chosen.some((p) => p.name === r.projection)));
  } else if (positionals[0] === 'redrive' && positionals.length === 1) {
    if (!cli.flag('all') && !['key', 'since', 'until'].some((option) => cli.value(option) !== undefined))
      usage('say which dead letters to re-drive: --key, --since, --until, or --all');
    exitCode = await redrive(chosen, filter);
  } else if (positionals[0] === 'show' && positionals.length === 4) {
    const [, topic, partitionText, offsetText] = positionals as [string, string, string, string];
    const [partition, offset] = [Number(partitionText), Number(offsetText)];
    if (!Number.isSafeInteger(partition) || partition < 0 || !Number.isSafeInteger(offset) || offset < 0)
      usage('partition and offset are whole numbers');
    for (const e of (await findDeadLetters(pool, projections, {})).filter(
      (l) => l.topic === topic && l.partition === partition && l.offset === offset,
    )) {
      out(
        `dead-lettered by ${e.projection} at ${e.deadLetteredAt.toISOString()} into ${e.dlqTopic}: ${e.code}: ${e.message}${e.parksKey ? ' (its key is parked)' : ''}`,
      );
    }
    const kafka = createKafka('dlq', config.kafka, logger);
    const record = await readRecord(kafka, { topic, partition, offset });
    if (!record) {
      out(`${topic}/${partition}@${offset}: the log does not hold this record (never written, or past retention)`);
      exitCode = 1;
    } else {
      out(`record ${topic}/${partition}@${offset}, written ${new Date(Number(record.timestamp)).toISOString()}`);
      out(`  key: ${printable(record.key)}`);
      out('  headers:');
      for (const [name, value] of Object.entries(record.headers))
        out(
          `    ${name}: ${Array.isArray(value) ? value.map((v) => printable(Buffer.from(v))).join(', ') : printable(value === undefined ? null : Buffer.from(value))}`,
        );
      const [decoded] = await new EventDecoder(config.registry).decodeAll([record]);
      if (decoded!.ok)
        out(
          `  event (schema version ${String(decoded!.schemaVersion)}):\n${JSON.stringify(decoded!.event, null, 2).replaceAll(/^/gm, '    ')}`,
        );
      else
        out(
          `  does not decode: ${decoded!.poison.code}: ${decoded!.poison.message}\n  value: ${printable(record.value)}`,
        );
    }
  } else {
    usage('say list, show <topic> <partition> <offset>, or redrive');
  }
} catch (err) {
  exitCode = 1;
  process.stderr.write(`dlq: ${(err as Error).message}\n`);
} finally {
  await pool.end();
}
process.exit(exitCode);

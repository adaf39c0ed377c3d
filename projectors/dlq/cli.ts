/**
 * `npm run dlq -- list [--projection P] [--code C] [--key K] [--since T] [--until T]`
 * `npm run dlq -- show <topic> <partition> <offset>`
 * What the projections dead-lettered, from their `dead_letters` tables, and one record as the
 * log holds it, decoded when it can be, with every header. Read only; the projectors' settings.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError } from '../../shared/config.ts';
import { createPool } from '../../shared/db/pool.ts';
import { EventDecoder } from '../../shared/events/decoder.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { createLogger } from '../../shared/logger.ts';
import { loadProjectorConfig } from '../config.ts';
import { catalogueProjections } from '../projections.ts';
import { readRecord } from './read-record.ts';
import { findDeadLetters, type DeadLetterEntry, type DeadLetterFilter } from './store.ts';

const USAGE = `usage: npm run dlq -- list [--projection P] [--code C] [--key K] [--since T] [--until T]
       npm run dlq -- show <topic> <partition> <offset>
  --projection P  movie-details or ratings (default: both)
  --code C        an error class: not_avro, unknown_schema, invalid_event, ...
  --key K         the record key (a movie id)
  --since/--until T  when it was dead-lettered, as an ISO 8601 time (2026-12-02T10:00:00Z)`;

function usage(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  strict: false,
  options: { projection: { type: 'string' }, code: { type: 'string' }, key: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, help: { type: 'boolean' } },
});
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
for (const [option, value] of Object.entries(values)) {
  if (!['projection', 'code', 'key', 'since', 'until'].includes(option)) usage(`unknown option --${option}`);
  if (typeof value !== 'string' || value === '') usage(`--${option} needs a value`);
}
const time = (option: 'since' | 'until'): Date | undefined => {
  const text = values[option];
  if (typeof text !== 'string') return undefined;
  const at = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(at.getTime())) usage(`--${option} must be an ISO 8601 time, got ${JSON.stringify(text)}`);
  return at;
};

let config: ReturnType<typeof loadProjectorConfig>;
try {
  config = loadProjectorConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`dlq: ${err.message}\n`);
  process.exit(1);
}
const out = (line: string) => process.stdout.write(`${line}\n`);
const logger = createLogger('dlq', process.env.LOG_LEVEL ?? 'warn', pino.destination(2));

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
    out(`${projection}: ${mine.length} dead letter${mine.length === 1 ? '' : 's'}, ${mine.filter((e) => e.parksKey).length} parking their key`);
    out(`  ${'error class'.padEnd(20)} ${'count'.padStart(6)} ${'keys'.padStart(6)}`);
    for (const [code, letters] of byCode) out(`  ${code.padEnd(20)} ${String(letters.length).padStart(6)} ${String(new Set(letters.map((l) => l.key)).size).padStart(6)}`);
    out(`  ${'position'.padEnd(28)} ${'key'.padEnd(14)} ${'error class'.padEnd(18)} ${'dead-lettered at'.padEnd(24)} reason`);
    for (const e of mine) {
      const position = `${e.topic}/${e.partition}@${e.offset}`;
      out(`  ${position.padEnd(28)} ${(e.key ?? '(none)').padEnd(14)} ${e.code.padEnd(18)} ${e.deadLetteredAt.toISOString().padEnd(24)} ${e.parksKey ? '[key parked] ' : ''}${e.message}`);
    }
  }
}

const pool = createPool(config.databaseUrl, 2, logger);
let exitCode = 0;
try {
  const projections = catalogueProjections(config.topics);
  if (positionals[0] === 'list' && positionals.length === 1) {
    const chosen = typeof values.projection === 'string' ? projections.filter((p) => p.name === values.projection) : projections;
    if (chosen.length === 0) usage(`no projection ${JSON.stringify(values.projection)}`);
    const filter: DeadLetterFilter = { code: values.code as string | undefined, key: values.key as string | undefined, since: time('since'), until: time('until') };
    listing(await findDeadLetters(pool, chosen, filter));
  } else if (positionals[0] === 'show' && positionals.length === 4) {
    const [, topic, partitionText, offsetText] = positionals as [string, string, string, string];
    const [partition, offset] = [Number(partitionText), Number(offsetText)];
    if (!Number.isSafeInteger(partition) || partition < 0 || !Number.isSafeInteger(offset) || offset < 0) usage('partition and offset are whole numbers');
    for (const e of (await findDeadLetters(pool, projections, {})).filter((l) => l.topic === topic && l.partition === partition && l.offset === offset)) {
      out(`dead-lettered by ${e.projection} at ${e.deadLetteredAt.toISOString()} into ${e.dlqTopic}: ${e.code}: ${e.message}${e.parksKey ? ' (its key is parked)' : ''}`);
    }
    const kafka = createKafka('dlq', config.kafkaBrokers, logger);
    const record = await readRecord(kafka, { topic, partition, offset });
    if (!record) {
      out(`${topic}/${partition}@${offset}: the log does not hold this record (never written, or past retention)`);
      exitCode = 1;
    } else {
      out(`record ${topic}/${partition}@${offset}, written ${new Date(Number(record.timestamp)).toISOString()}`);
      out(`  key: ${printable(record.key)}`);
      out('  headers:');
      for (const [name, value] of Object.entries(record.headers)) out(`    ${name}: ${Array.isArray(value) ? value.map((v) => printable(Buffer.from(v))).join(', ') : printable(value === undefined ? null : Buffer.from(value))}`);
      const [decoded] = await new EventDecoder(config.registryUrl).decodeAll([record]);
      if (decoded!.ok) out(`  event (schema version ${String(decoded!.schemaVersion)}):\n${JSON.stringify(decoded!.event, null, 2).replaceAll(/^/gm, '    ')}`);
      else out(`  does not decode: ${decoded!.poison.code}: ${decoded!.poison.message}\n  value: ${printable(record.value)}`);
    }
  } else {
    usage('say list, or show <topic> <partition> <offset>');
  }
} catch (err) {
  exitCode = 1;
  process.stderr.write(`dlq: ${(err as Error).message}\n`);
} finally {
  await pool.end();
}
process.exit(exitCode);

import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import pg from 'pg';
import { fetchedOnce, runTool } from '../infra/artifacts.ts';
import { REPO_ROOT, dataPath } from '../infra/paths.ts';
import { createTestDatabase, freePort } from '../harness/services.ts';
import type { ExpectedFold } from '../harness/rating-stream.ts';
import type { Cleanups } from './cleanups.ts';
import { deleteGroups, endOffsetSum } from './kafka.ts';
import { waitUntilReached } from './progress.ts';

const POM = path.join(REPO_ROOT, 'bench', 'connect', 'pom.xml');
const TABLE = 'peer_ratings';
const FIRST_ROW_POLL_MS = 50;
/** Launch, plugin scan and the first batch take seconds; minutes mean something is wrong. */
const FIRST_ROW_DEADLINE_MS = 300_000;
/** How often the worker commits its consumer's offsets: the end of the run is known to this much. */
const OFFSET_FLUSH_MS = 500;

export interface PeerOptions {
  kafka: Kafka;
  brokers: readonly string[];
  /** The schema registry's Confluent-compatible address, as the services are given it. */
  registryUrl: string;
  topic: string;
  expected: ExpectedFold;
  cleanups: Cleanups;
}

export interface PeerRun {
  /** From the worker's launch until its committed offsets reach the end of every partition. */
  seconds: number;
  /** From the first row in its table until the same end. */
  flowingSeconds: number;
  /** Rows of pairs the fold has deleted: the sink upserts, and a RatingDeleted carries no value to delete by. */
  keptAfterDelete: number;
  problems: string[];
}

/**
 * What a team would run instead of the projector: a Kafka Connect worker of the broker's
 * version (standalone, one process), Debezium's JDBC sink upserting by (record, user) into a
 * fresh table, and Apicurio's Avro converter reading the records' Confluent framing, all from
 * Maven Central. Timed from the worker's launch (JVM start and plugin scan included, as the
 * projector's time includes its process start) until the offsets it commits reach the end of
 * the topic, then its rows are checked against the independent fold.
 */
export async function runConnectPeer(options: PeerOptions): Promise<PeerRun> {
  const { cleanups } = options;
  const install = ensureConnect();
  const database = await createTestDatabase('bench_peer', { migrated: false });
  const dropDatabase = cleanups.add(`drop database ${database.name}`, () => database.drop());
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  const closeClient = cleanups.add('close the peer database connection', () => client.end());
  await client.query(
    `CREATE TABLE ${TABLE} (recordid text NOT NULL, userid text NOT NULL, value integer, PRIMARY KEY (recordid, userid))`,
  );

  const name = `bench-peer-${Date.now().toString(36)}`;
  const dir = dataPath('bench', name);
  mkdirSync(dir, { recursive: true });
  const rest = `http://127.0.0.1:${await freePort()}`;
  const files = writeConfig(dir, name, database.url, install.pluginPath, rest, options);
  cleanups.add(`delete the consumer group connect-${name}`, () => deleteGroups(options.kafka, [`connect-${name}`]));

  const target = await endOffsetSum(options.kafka, options.topic);
  const log = createWriteStream(path.join(dir, 'worker.log'));
  const started = performance.now();
  const worker = spawn(
    'java',
    [
      '-cp',
      install.classpath,
      `-Dlog4j2.configurationFile=${files.log4j}`,
      'org.apache.kafka.connect.cli.ConnectStandalone',
      files.worker,
      files.connector,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // One log for both streams, closed once neither can write to it any more.
  worker.stdout.pipe(log, { end: false });
  worker.stderr.pipe(log, { end: false });
  worker.once('close', () => log.end());
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    worker.once('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  const stopWorker = cleanups.add('stop the Kafka Connect worker', async () => {
    if (exitCode === undefined) worker.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000).then(() => worker.kill('SIGKILL'))]);
  });

  const logFile = path.join(dir, 'worker.log');
  const trouble = () =>
    exitCode === undefined
      ? undefined
      : new Error(`the Kafka Connect worker exited with code ${String(exitCode)}; see ${logFile}`);
  const firstRow = await waitForFirstRow(client, `${rest}/connectors/${name}/status`, logFile, trouble);
  const admin = options.kafka.admin();
  await admin.connect();
  try {
    await waitUntilReached({
      label: '(d)',
      target,
      started,
      reached: () => committedTotal(admin, `connect-${name}`, options.topic),
      trouble,
    });
  } finally {
    await admin.disconnect();
  }
  const ended = performance.now();
  await stopWorker();

  const checked = await checkRows(client, options.expected);
  await closeClient();
  await dropDatabase();
  // Kept after a failure, for the log the error names.
  await rm(dir, { recursive: true, force: true });
  return {
    seconds: (ended - started) / 1000,
    flowingSeconds: (ended - firstRow) / 1000,
    ...checked,
  };
}

/** The worker's classpath and plugin folder, fetched once per content of the pom. */
function ensureConnect(): { classpath: string; pluginPath: string } {
  const dir = fetchedOnce(POM, 'connect-peer', (into) => {
    console.log(`  fetching Kafka Connect, Debezium's JDBC sink and Apicurio's converter into ${into}`);
    for (const [profile, folder] of [
      ['worker', 'worker'],
      ['jdbc', 'plugins/jdbc'],
      ['converter', 'plugins/converter'],
    ] as const)
      runTool('mvn', [
        '-q',
        '-B',
        '-f',
        POM,
        '-P',
        profile,
        'dependency:copy-dependencies',
        `-Dout=${path.join(into, folder)}`,
      ]);
  });
  return { classpath: path.join(dir, 'worker', '*'), pluginPath: path.join(dir, 'plugins') };
}

const properties = (entries: Record<string, string | number>) =>
  Object.entries(entries)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');

function writeConfig(
  dir: string,
  name: string,
  databaseUrl: string,
  pluginPath: string,
  rest: string,
  options: PeerOptions,
) {
  const db = new URL(databaseUrl);
  // The converter speaks the registry's own v2 API; the ids in the records are its content ids.
  const registry = new URL('/apis/registry/v2', options.registryUrl).toString();
  const files = {
    worker: path.join(dir, 'worker.properties'),
    connector: path.join(dir, 'connector.properties'),
    log4j: path.join(dir, 'log4j2.properties'),
  };
  writeFileSync(
    files.worker,
    properties({
      'bootstrap.servers': options.brokers.join(','),
      'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
      'value.converter': 'io.apicurio.registry.utils.converter.AvroConverter',
      'value.converter.apicurio.registry.url': registry,
      'value.converter.apicurio.registry.as-confluent': 'true',
      'value.converter.apicurio.registry.use-id': 'contentId',
      'offset.storage.file.filename': path.join(dir, 'offsets'),
      'offset.flush.interval.ms': OFFSET_FLUSH_MS,
      'plugin.path': pluginPath,
      listeners: rest,
    }),
  );
  writeFileSync(
    files.connector,
    properties({
      name,
      'connector.class': 'io.debezium.connector.jdbc.JdbcSinkConnector',
      // Tuned as the projector is (3 partitions at a time, up to 5,000 records a batch, a key's
      // events folded within it): the fastest of the settings tried (docs/performance.md).
      'tasks.max': 3,
      'batch.size': 5000,
      'consumer.override.max.poll.records': 5000,
      'use.reduction.buffer': 'true',
      topics: options.topic,
      'connection.url': `jdbc:postgresql://${db.host}${db.pathname}`,
      'connection.username': decodeURIComponent(db.username),
      'connection.password': decodeURIComponent(db.password),
      'insert.mode': 'upsert',
      'primary.key.mode': 'record_value',
      'primary.key.fields': 'recordId,userId',
      'schema.evolution': 'none',
      'collection.name.format': TABLE,
      // The envelope is a nested record, which a JDBC table cannot hold; the sink keeps the rating.
      transforms: 'rating',
      'transforms.rating.type': 'org.apache.kafka.connect.transforms.ReplaceField$Value',
      'transforms.rating.include': 'recordId,userId,value',
    }),
  );
  writeFileSync(
    files.log4j,
    [
      'status = warn',
      'appender.console.type = Console',
      'appender.console.name = STDOUT',
      'appender.console.layout.type = PatternLayout',
      'appender.console.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = WARN',
      'rootLogger.appenderRef.stdout.ref = STDOUT',
    ].join('\n'),
  );
  return files;
}

/**
 * Waits for the sink's first row. A task that fails leaves the worker running, so its state is
 * asked of the worker's REST API too: a failed task, or no row within the deadline, fails the run.
 */
async function waitForFirstRow(
  client: pg.Client,
  statusUrl: string,
  logFile: string,
  trouble: () => Error | undefined,
): Promise<number> {
  const deadline = performance.now() + FIRST_ROW_DEADLINE_MS;
  for (let poll = 0; ; poll++) {
    const problem = trouble();
    if (problem) throw problem;
    const { rowCount } = await client.query(`SELECT 1 FROM ${TABLE} LIMIT 1`);
    if (rowCount) return performance.now();
    if (poll % 20 === 0) {
      const failed = await failedState(statusUrl);
      if (failed) throw new Error(`the Kafka Connect sink failed: ${failed}; see ${logFile}`);
    }
    if (performance.now() > deadline)
      throw new Error(`the Kafka Connect sink wrote no row in ${FIRST_ROW_DEADLINE_MS / 1000} s; see ${logFile}`);
    await sleep(FIRST_ROW_POLL_MS);
  }
}

/** The first line of a failed connector's or task's trace, if one failed (undefined while the API is not up). */
async function failedState(statusUrl: string): Promise<string | undefined> {
  const status = (await fetch(statusUrl)
    .then((r) => (r.ok ? r.json() : undefined))
    .catch(() => undefined)) as
    { connector: { state: string; trace?: string }; tasks: Array<{ state: string; trace?: string }> } | undefined;
  const failed = [status?.connector, ...(status?.tasks ?? [])].find((s) => s?.state === 'FAILED');
  return failed && (failed.trace?.split('\n')[0] ?? 'FAILED');
}

/** The offsets the worker has committed for `topic`, summed over its partitions. */
async function committedTotal(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (committed?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

/** Every rating of the fold with its value; rows the fold deleted are counted, not faulted. */
async function checkRows(
  client: pg.Client,
  expected: ExpectedFold,
): Promise<Pick<PeerRun, 'keptAfterDelete' | 'problems'>> {
  const { rows } = await client.query<{ recordid: string; userid: string; value: number | null }>(
    `SELECT recordid, userid, value FROM ${TABLE}`,
  );
  const found = new Map(rows.map((r) => [`${r.recordid} ${r.userid}`, r.value]));
  const wrong: string[] = [];
  for (const [key, value] of expected.ratings)
    if (found.get(key) !== value) wrong.push(`${key}: ${String(found.get(key))}, expected ${value}`);
  const problems =
    wrong.length === 0 ? [] : [`the peer's table differs on ${wrong.length} ratings: ${wrong.slice(0, 5).join('; ')}`];
  const keptAfterDelete = [...found.keys()].filter((key) => !expected.ratings.has(key)).length;
  return { keptAfterDelete, problems };
}

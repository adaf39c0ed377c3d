/**
 * `npm run bench:replay -- [--events N] [--seed N] [--read-rate N] [--peer connect]`: the replay tool rebuilding
 * the ratings projection over N rating events (1,000,000 by default) while the live system
 * serves, beside (a) a bare kafkajs consumer that reads and decodes the same topic, in one run.
 * The live projector first applies the whole topic; then a query API serves reads at a steady
 * rate while `npm run replay -- ratings` rebuilds and swaps; the rebuilt tables are checked
 * against an independent fold. Not a test: it prints figures, and fails only on a wrong result.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import pg from 'pg';
import { REPO_ROOT } from '../infra/paths.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { createLogger } from '../shared/logger.ts';
import { eventually } from '../harness/eventually.ts';
import { startProjectorProcess, startToolProcess } from '../harness/projector-process.ts';
import { createTestDatabase, freePort, services, uniqueName } from '../harness/services.ts';
import { verifyRatings } from '../harness/verify-ratings.ts';
import { readAndDecode } from './bare-reader.ts';
import { profileFlags, waitUntilReady } from './service-probe.ts';
import { Cleanups } from './cleanups.ts';
import { benchTopics, deleteGroups } from './kafka.ts';
import { prepareTopic } from './produce.ts';
import { runConnectPeer } from './connect-peer.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string' },
    seed: { type: 'string' },
    'read-rate': { type: 'string' },
    peer: { type: 'string' },
  },
});
if (values.peer !== undefined && values.peer !== 'connect') {
  console.error(`--peer must be connect, got ${JSON.stringify(values.peer)}`);
  process.exit(2);
}
const EVENTS = Number((values.events ?? '1000000').replaceAll(/[_,]/g, ''));
const SEED = Number(values.seed ?? 42);
const READ_RATE = Number(values['read-rate'] ?? 500);
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const logger = createLogger('bench', process.env.LOG_LEVEL ?? 'warn');
const kafka = createKafka('bench', services.kafka, logger);
const cleanups = new Cleanups();

/** What became of the reads that were not answered 200: statuses, connection errors (reads cut off as the load stops among them), timeouts. */
function notServed(result: autocannon.Result): string {
  const statuses = Object.entries(result.statusCodeStats ?? {})
    .filter(([status]) => status !== '200')
    .map(([status, { count }]) => `${count ?? 0} answered ${status}`);
  return [...statuses, `${result.errors} errors`, `${result.timeouts} timeouts`].join(', ');
}

async function storedTotal(client: pg.Client, schema: string): Promise<number> {
  const { rows } = await client
    .query<{ n: number }>(`SELECT coalesce(sum(next_offset), 0)::bigint AS n FROM ${schema}.projection_offsets`)
    .catch(() => ({ rows: [{ n: 0 }] })); // before the projector's migrations
  return Number(rows[0]!.n);
}

try {
  const topics = benchTopics(EVENTS);
  const stamp = Date.now().toString(36);
  const groups = { bare: `bench-bare-${stamp}`, live: `bench-live-${stamp}` };
  cleanups.add('delete the consumer groups', () =>
    deleteGroups(kafka, [...Object.values(groups), 'movie-catalogue-rebuild-ratings']),
  );
  const produced = await prepareTopic(kafka, services.registry, topics, { events: EVENTS, seed: SEED });

  console.log('(a) bare kafkajs consumer: read and decode every record');
  const bare = await readAndDecode(kafka, services.registry, topics.movieRatings, EVENTS, groups.bare);
  console.log(`  ${fmt(EVENTS)} records in ${bare.seconds.toFixed(2)} s`);
  const expected = produced ?? bare.fold;

  const db = await createTestDatabase('bench_replay');
  cleanups.add(`drop database ${db.name}`, () => db.drop());
  const watcher = new pg.Client({ connectionString: db.url });
  await watcher.connect();
  cleanups.add('close the watcher', () => watcher.end());
  const settings = { databaseUrl: db.url, topics, groupId: groups.live, env: { LOG_LEVEL: 'warn' } };

  console.log('the live system: a projector applies the whole topic, then a query API serves reads');
  const live = startProjectorProcess(settings);
  cleanups.add('stop the live projector', () => live.kill('SIGTERM'));
  const liveStarted = performance.now();
  await eventually(
    async () => {
      if ((await storedTotal(watcher, 'ratings')) < EVENTS) throw new Error('the live projector is still applying');
    },
    600_000,
    500,
  );
  console.log(`  applied by the live projector in ${((performance.now() - liveStarted) / 1000).toFixed(1)} s`);
  const queryPort = await freePort();
  const queryApi: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'query-api/main.ts')],
    {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        QUERY_API_PORT: String(queryPort),
        EVENT_ID_SECRET: 'bench-replay-secret-bench-replay-secret',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  cleanups.add(
    'stop the query API',
    () => new Promise((resolve) => (queryApi.kill('SIGTERM'), queryApi.once('exit', resolve))),
  );
  await waitUntilReady(`http://127.0.0.1:${queryPort}`);

  // Only movies with ratings before the rebuild: each of them must be answered 200 throughout.
  const rated = [...expected.aggregates().keys()].sort();
  let n = 0;
  let readsDone!: Promise<autocannon.Result>;
  const reads = await new Promise<autocannon.Instance>((started) => {
    readsDone = new Promise((resolve, reject) => {
      started(
        autocannon(
          {
            url: `http://127.0.0.1:${queryPort}`,
            connections: 8,
            overallRate: READ_RATE,
            duration: 3600,
            requests: [
              { setupRequest: (req) => ({ ...req, path: `/v1/movies/${rated[(n++ * 7919) % rated.length]!}/rating` }) },
            ],
          },
          (err: Error | null, result) => (err ? reject(err) : resolve(result)),
        ),
      );
    });
  });
  await sleep(1000);

  console.log(`(b) npm run replay -- ratings, while the query API serves ${fmt(READ_RATE)} reads/s`);
  const replayStarted = performance.now();
  const nodeFlags = profileFlags();
  const replay = startToolProcess('replay', ['ratings', '--drop-old-after-seconds', '0'], {
    ...settings,
    groupId: uniqueName('unused'),
    nodeFlags,
  });
  cleanups.add('stop the replay', () => replay.kill('SIGKILL'));
  const code = await replay.exited;
  const replaySeconds = (performance.now() - replayStarted) / 1000;
  reads.stop();
  const served = await readsDone;
  if (code !== 0) throw new Error(`the replay exited with code ${String(code)}:\n${replay.output()}`);
  const own = /rebuilt ([\d,]+) events? in ([\d.]+) s/.exec(replay.output());
  const ownSeconds = own ? Number(own[2]) : Number.NaN;

  const problems = await verifyRatings(watcher, expected, EVENTS);
  await cleanups.runAll();

  let peerRate: number | undefined;
  if (values.peer === 'connect') {
    console.log("(c) Kafka Connect worker with Debezium's JDBC sink (upserts by record and user) from its launch");
    const peer = await runConnectPeer({
      kafka,
      brokers: services.brokers,
      registryUrl: services.registryUrl,
      topic: topics.movieRatings,
      expected,
      cleanups,
    });
    problems.push(...peer.problems);
    await cleanups.runAll();
    peerRate = EVENTS / peer.seconds;
    console.log(
      `  ${fmt(EVENTS)} events in ${peer.seconds.toFixed(2)} s, ${peer.flowingSeconds.toFixed(2)} s from its first row`,
    );
  }

  const rate = EVENTS / replaySeconds;
  const ratio = rate / (EVENTS / bare.seconds);
  const vsPeer =
    peerRate === undefined
      ? 'vs Kafka Connect: run with --peer connect'
      : `(c) Kafka Connect JDBC sink             ${fmt(peerRate).padStart(10)}   from launch\n(b)/(c) = ${(rate / peerRate).toFixed(2)}`;
  console.log(`
run                                      events/s   detail
(a) bare kafkajs read + decode         ${fmt(EVENTS / bare.seconds).padStart(10)}   ${fmt(EVENTS)} events in ${bare.seconds.toFixed(2)} s
(b) replay, process start to exit      ${fmt(rate).padStart(10)}   ${fmt(EVENTS)} events in ${replaySeconds.toFixed(2)} s (the tool's own count: ${ownSeconds.toFixed(1)} s)

(b)/(a) = ${ratio.toFixed(2)}
${vsPeer}
reads during the rebuild: ${fmt(served['2xx'])} answered 200, ${served.non2xx + served.errors + served.timeouts} not (${notServed(served)}); p50 ${served.latency.p50} ms, p99 ${served.latency.p99} ms

bars: (b)/(a) >= 0.6 ${ratio >= 0.6 ? 'met' : 'not met'}; >= 3x Kafka Connect ${peerRate === undefined ? 'n/a' : rate >= 3 * peerRate ? 'met' : 'not met'}; ${EVENTS === 1_000_000 ? `1M under 20 s ${replaySeconds < 20 ? 'met' : 'not met'}` : `N is ${fmt(EVENTS)}, not 1M`}
check of the rebuilt tables against the independent fold: ${problems.length === 0 ? 'PASS' : `FAIL\n  ${problems.join('\n  ')}`}`);
  process.exit(problems.length === 0 ? 0 : 1);
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? String(err)}`);
  await cleanups.runAll();
  process.exit(1);
}

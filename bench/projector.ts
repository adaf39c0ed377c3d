/**
 * `npm run bench:projector -- [--events N] [--naive-sample N] [--peer connect] [--cluster]`: how fast the catalogue projector
 * folds N rating events into Postgres, next to the ceiling (reading and decoding alone) and the
 * floor (one transaction per event), with its result checked against an independent fold.
 * With --peer connect, Kafka Connect's JDBC sink runs on the same topic and the report gives the
 * ratio to it. With --cluster, the projector runs again on a secured three-node cluster (SASL_SSL,
 * replication 3), in the same run, and the report gives the ratio of the two.
 * Not a test: it prints figures, and fails only when the projector's result is wrong.
 */
import type { Kafka } from 'kafkajs';
import { createKafka } from '../shared/kafka/client.ts';
import { createLogger } from '../shared/logger.ts';
import { parseBenchArgs, type BenchOptions } from './args.ts';
import { readAndDecode } from './bare-reader.ts';
import { runCatalogueProjector } from './catalogue-run.ts';
import { Cleanups } from './cleanups.ts';
import { BENCH_PARTITIONS, benchTopics, deleteGroups } from './kafka.ts';
import { ADMIN_USER, grantsFor } from '../infra/cluster/access.ts';
import { grantAccess } from '../infra/cluster/kafka-cluster.ts';
import { startSecuredCluster } from '../harness/secured-cluster.ts';
import { runNaiveProjector } from './naive.ts';
import { prepareTopic } from './produce.ts';
import { printReport, type Figures } from './report.ts';
import { runConnectPeer } from './connect-peer.ts';
import { services } from '../harness/services.ts';

const options = parseBenchArgs(process.argv.slice(2));
// The projector's dead-letter producer keeps kafkajs's default partitioner on purpose; its
// once-per-process notice about that default would only clutter the figures.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const { registry } = services;
// Warnings and errors of kafkajs and the projector still show; their routine chatter would bury the figures.
const logger = createLogger('bench', process.env.LOG_LEVEL ?? 'warn');
const kafka = createKafka('bench', services.kafka, logger);
const cleanups = new Cleanups();

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanups.runAll().finally(() => process.exit(130));
  });
}

const fmt = (n: number) => n.toLocaleString('en-US');

async function main(kafkaClient: Kafka, bench: BenchOptions): Promise<{ pass: boolean; rate: number }> {
  const topics = benchTopics(bench.events);
  const stamp = Date.now().toString(36);
  const groups = { bare: `bench-bare-${stamp}`, projector: `bench-projector-${stamp}`, naive: `bench-naive-${stamp}` };
  cleanups.add('delete the consumer groups', () => deleteGroups(kafkaClient, Object.values(groups)));

  const produced = await prepareTopic(kafkaClient, registry, topics, bench);

  console.log('(a) bare kafkajs consumer: read and decode every record');
  const bare = await readAndDecode(kafkaClient, registry, topics.movieRatings, bench.events, groups.bare);
  console.log(`  ${fmt(bench.events)} records in ${bare.seconds.toFixed(2)} s`);
  const problems: string[] = [];
  if (bare.poison > 0) problems.push(`${bare.poison} records of the bench topic do not decode`);
  // Both folds must agree, or the log does not hold each movie's events in produce order.
  const drift = produced?.differencesFrom(bare.fold) ?? [];
  if (drift.length > 0)
    problems.push(`the fold of the log as read differs from the produce-order fold: ${drift.join('; ')}`);
  const expected = produced ?? bare.fold;

  console.log(
    `(b) catalogue projector process from an empty database, timed from its start (pool ${bench.poolSize}, ${JSON.stringify(bench.tuning)})`,
  );
  const projector = await runCatalogueProjector({
    kafka: kafkaClient,
    topics,
    expected,
    events: bench.events,
    poolSize: bench.poolSize,
    tuning: bench.tuning,
    groupId: groups.projector,
    cleanups,
  });
  problems.push(...projector.problems);
  console.log(
    `  ${fmt(bench.events)} events applied in ${projector.seconds.toFixed(2)} s; check ${problems.length === 0 ? 'passed' : 'FAILED'}`,
  );

  console.log(`(c) naive projector: eachMessage, one transaction per event, first ${fmt(bench.naiveSample)} events`);
  const naive = await runNaiveProjector({
    kafka: kafkaClient,
    registry,
    topic: topics.movieRatings,
    sample: bench.naiveSample,
    groupId: groups.naive,
    logger,
    cleanups,
  });
  console.log(`  ${fmt(naive.applied)} events in ${naive.seconds.toFixed(2)} s`);

  let peer: Figures['peer'];
  if (bench.peer === 'connect') {
    console.log("(d) Kafka Connect worker with Debezium's JDBC sink (upserts by record and user) from its launch");
    const run = await runConnectPeer({
      kafka: kafkaClient,
      brokers: services.brokers,
      registryUrl: services.registryUrl,
      topic: topics.movieRatings,
      expected,
      cleanups,
    });
    problems.push(...run.problems);
    console.log(
      `  ${fmt(bench.events)} events in ${run.seconds.toFixed(2)} s, ${run.flowingSeconds.toFixed(2)} s from the first row`,
    );
    peer = {
      rate: bench.events / run.seconds,
      seconds: run.seconds,
      flowingRate: bench.events / run.flowingSeconds,
      keptAfterDelete: run.keptAfterDelete,
    };
  }

  await cleanups.runAll();
  printReport({
    events: bench.events,
    bare: { rate: bench.events / bare.seconds, seconds: bare.seconds },
    projector: { rate: bench.events / projector.seconds, ...projector },
    naive: { rate: naive.applied / naive.seconds, seconds: naive.seconds, sample: naive.applied },
    peer,
    check: { pass: problems.length === 0, problems },
  });
  return { pass: problems.length === 0, rate: bench.events / projector.seconds };
}

/** (b) again, on a secured three-node cluster of its own, with the same events. */
async function onSecuredCluster(bench: BenchOptions, singleRate: number): Promise<boolean> {
  console.log('\n(b) on a secured three-node cluster (SASL_SSL, replication 3, min.insync.replicas 2): starting it');
  const cluster = await startSecuredCluster(BENCH_PARTITIONS);
  cleanups.add('stop the secured cluster', () => cluster.remove());
  const admin = createKafka('bench', cluster.connectionFor(ADMIN_USER), logger);
  const topics = benchTopics(bench.events);
  const groupId = `bench-projector-${Date.now().toString(36)}`;
  const expected = await prepareTopic(admin, registry, topics, bench);
  await grantAccess(
    admin,
    grantsFor({
      sources: [topics.movieMetadata, topics.movieRatings],
      deadLetters: [...topics.deadLetters.values()],
      projectorGroup: groupId,
    }),
  );
  const projector = await runCatalogueProjector({
    kafka: admin,
    topics,
    expected: expected!,
    events: bench.events,
    poolSize: bench.poolSize,
    tuning: bench.tuning,
    groupId,
    cleanups,
    kafkaEnv: cluster.envFor('projectors'),
  });
  await cleanups.runAll();
  const rate = bench.events / projector.seconds;
  console.log(
    `(b) on the cluster: ${fmt(Math.round(rate))} events/s (${projector.seconds.toFixed(2)} s); check ${projector.problems.length === 0 ? 'passed' : `FAILED: ${projector.problems.join('; ')}`}`,
  );
  console.log(
    `cluster / single node: ${(rate / singleRate).toFixed(2)}; bar: at least 0.5x: ${rate >= 0.5 * singleRate ? 'met' : 'not met'}`,
  );
  return projector.problems.length === 0;
}

try {
  const { pass, rate } = await main(kafka, options);
  const clusterPass = options.cluster ? await onSecuredCluster(options, rate) : true;
  process.exit(pass && clusterPass ? 0 : 1);
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? String(err)}`);
  await cleanups.runAll();
  process.exit(1);
}

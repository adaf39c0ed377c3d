/**
 * `npm run bench:commands -- [--seconds N] [--connections N] [--cluster]`: the command API as its
 * own process over HTTP, in one run: (1) accepted single ratings/s with many concurrent clients,
 * (2) accepted bulk events/s through /v1/ratings/batch, (3) accept latency at a steady
 * 2,000 ratings/s, next to (4) a bare kafkajs producer sending the same kind of encoded events
 * with the same acks=all, and (5) a bare fastify route that parses the same single-rating
 * requests and answers 202 without Kafka, under the same load. The floor of a single rating is
 * both together, 1/(1/(4) + 1/(5)), and (1) is reported over it. With --cluster, the same again on a secured three-node
 * cluster (SASL_SSL, replication 3, min.insync.replicas 2), and the ratio of the two. Not a test:
 * it prints figures.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { mintToken } from '../command-api/mint-token.ts';
import { REPO_ROOT } from '../infra/paths.ts';
import { EventCodec } from '../shared/kafka/codec.ts';
import { newEventId } from '../shared/events/event-id.ts';
import type { RatingSubmitted } from '../shared/events/types.ts';
import { createLogger } from '../shared/logger.ts';
import { ADMIN_USER } from '../infra/cluster/access.ts';
import { createKafka, type KafkaConnection } from '../shared/kafka/client.ts';
import { startSecuredCluster } from '../harness/secured-cluster.ts';
import { createTestTopics, freePort, services } from '../harness/services.ts';
import { profileFlags, waitUntilReady } from './service-probe.ts';
import { registryClient } from '../shared/registry.ts';
import { COMMAND_API_NODE_FLAGS } from '../shared/defaults.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string' }, connections: { type: 'string' }, cluster: { type: 'boolean' } },
});
const SECONDS = Number(values.seconds ?? 10);
// The brief's concurrency: enough for the machine to be CPU-bound, not latency-bound.
const CONNECTIONS = Number(values.connections ?? 256);
const SECRET = 'bench-secret-bench-secret-bench-secret-0123';
const MOVIES = 20_000;
/** Linux counts process CPU in these (USER_HZ, 100 on every common build). */
const CLOCK_TICKS_PER_S = 100;
/** One principal per connection: the per-principal rate limit runs, and never shapes the figure. */
const PRINCIPALS = Math.max(CONNECTIONS, 256);
const movieId = (i: number) => `tt${String(i % MOVIES).padStart(7, '0')}`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const logger = createLogger('bench', 'warn');

/** Where the command API appends: its Kafka settings, the topics, and how the bare producer reaches them. */
interface Target {
  name: string;
  env: Record<string, string>;
  topics: { movieMetadata: string; movieRatings: string };
  producer: KafkaConnection;
}

interface Figures {
  single: Result;
  singleRate: number;
  /** The command API's CPU, user and system, per accepted single rating. */
  singleCpuUs: number;
  bulk: Result;
  bulkRate: number;
  steady: Result;
  bareRate: number;
  bareHttpRate: number;
}

type Result = autocannon.Result;

function load(options: autocannon.Options): Promise<Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (err: Error | null, result) => (err ? reject(err) : resolve(result)));
  });
}

/** Only 202s count as accepted; anything else is reported, never counted. */
function accepted(result: Result, label: string): number {
  const other = result.non2xx + result.errors + result.timeouts;
  if (other > 0)
    console.log(
      `  ${label}: ${other} requests were not accepted (non-2xx ${result.non2xx}, errors ${result.errors}, timeouts ${result.timeouts})`,
    );
  return result['2xx'];
}

async function bareProducer(target: Target, events: number): Promise<number> {
  const kafka = createKafka('bench', target.producer, logger);
  const codec = await EventCodec.forWriting(registryClient(services.registry), target.topics);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const rating = (i: number): RatingSubmitted => ({
    type: 'RatingSubmitted',
    envelope: { eventId: newEventId(), occurredAt: new Date(), principal: 'provider-1', correlationId: 'bench' },
    recordType: 'movie',
    recordId: movieId(i),
    userId: `user${i % 50_000}`,
    value: 1 + (i % 5),
    providerId: 'acme',
  });
  const send = async (from: number, count: number) => {
    for (let i = from; i < from + count; i += 5000) {
      const messages = Array.from({ length: Math.min(5000, from + count - i) }, (_, j) => {
        const { key, value, headers } = codec.encode(rating(i + j));
        return { key, value, headers };
      });
      await producer.send({ topic: target.topics.movieRatings, acks: -1, messages });
    }
  };
  await send(0, 50_000); // warm-up, not counted
  const started = performance.now();
  // As the command API sends them: up to 5,000 encoded events a produce request, acks=all.
  await send(50_000, events);
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  return events / seconds;
}

/** Accepted single ratings/s of a bare fastify route, after the same warm-up as the command API's. */
async function bareHttp(singleRequest: () => Partial<autocannon.Request>): Promise<number> {
  const port = await freePort();
  const bare = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench', 'bare-fastify.ts')], {
    env: { ...process.env, BARE_PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const requests = [{ setupRequest: (req: autocannon.Request) => ({ ...req, ...singleRequest() }) }];
  try {
    await waitUntilReady(url, '/v1/movies/x');
    await load({ url, connections: CONNECTIONS, duration: 5, requests });
    return accepted(await load({ url, connections: CONNECTIONS, duration: SECONDS, requests }), 'bare') / SECONDS;
  } finally {
    bare.kill('SIGTERM');
    await new Promise((resolve) => bare.once('exit', resolve));
  }
}

/** Every run against one target, with a command API process of its own. */
async function measure(target: Target): Promise<Figures> {
  const port = await freePort();
  const api = spawn(
    process.execPath,
    [...profileFlags(), ...COMMAND_API_NODE_FLAGS, '--import', 'tsx', path.join(REPO_ROOT, 'command-api', 'main.ts')],
    {
      env: {
        ...process.env,
        ...target.env,
        SCHEMA_REGISTRY_URL: services.registryUrl,
        TOPIC_MOVIE_METADATA: target.topics.movieMetadata,
        TOPIC_MOVIE_RATINGS: target.topics.movieRatings,
        COMMAND_API_PORT: String(port),
        JWT_SECRET: SECRET,
        EVENT_ID_SECRET: SECRET,
        DATABASE_URL: services.databaseUrl,
        // 100 principals at full speed are far above the per-principal default: the limiter runs
        // (its cost is measured) but never refuses.
        RATE_LIMIT_MAX: String(1_000_000_000),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(base);
    const userTokens = Array.from({ length: PRINCIPALS }, (_, i) =>
      mintToken(SECRET, { sub: `user${i}`, roles: ['user'] }, 3600),
    );
    const provider = mintToken(SECRET, { sub: 'provider-1', roles: ['provider'] }, 3600);
    let n = 0;
    const singleRequest = () => ({
      method: 'POST' as const,
      path: `/v1/movies/${movieId(n)}/ratings`,
      headers: { authorization: `Bearer ${userTokens[n++ % userTokens.length]!}`, 'content-type': 'application/json' },
      body: JSON.stringify({ value: 1 + (n % 5) }),
    });

    // A cold process pays for JIT compilation and its first connections; nobody runs one that way for long.
    console.log(`${target.name}: warm-up: 5 s of single ratings, not counted`);
    await load({
      url: base,
      connections: CONNECTIONS,
      duration: 5,
      requests: [{ setupRequest: (req) => ({ ...req, ...singleRequest() }) }],
    });

    console.log(`${target.name}: (3) steady 2,000 ratings/s for ${SECONDS} s`);
    const steady = await load({
      url: base,
      connections: 32,
      duration: SECONDS,
      overallRate: 2000,
      requests: [{ setupRequest: (req) => ({ ...req, ...singleRequest() }) }],
    });
    accepted(steady, 'steady');

    console.log(`${target.name}: (1) single ratings: ${CONNECTIONS} connections for ${SECONDS} s`);
    const cpuBefore = cpuSeconds(api.pid!);
    const single = await load({
      url: base,
      connections: CONNECTIONS,
      duration: SECONDS,
      requests: [{ setupRequest: (req) => ({ ...req, ...singleRequest() }) }],
    });
    const singleRate = accepted(single, 'single') / SECONDS;
    const singleCpuUs = ((cpuSeconds(api.pid!) - cpuBefore) * 1e6) / (singleRate * SECONDS);

    console.log(`${target.name}: (2) bulk: 1,000 ratings a request, 8 connections for ${SECONDS} s`);
    let b = 0;
    const bulkBody = () =>
      JSON.stringify({
        providerId: 'acme',
        ratings: Array.from({ length: 1000 }, (_, i) => ({
          movieId: movieId(b * 1000 + i),
          userId: `user${(b * 7 + i) % 50_000}`,
          value: 1 + (i % 5),
        })),
      });
    const bodies = Array.from({ length: 16 }, () => (b++, bulkBody()));
    let k = 0;
    const bulk = await load({
      url: base,
      connections: 8,
      duration: SECONDS,
      requests: [
        {
          setupRequest: (req) => ({
            ...req,
            method: 'POST',
            path: '/v1/ratings/batch',
            headers: { authorization: `Bearer ${provider}`, 'content-type': 'application/json' },
            body: bodies[k++ % bodies.length]!,
          }),
        },
      ],
    });
    const bulkRate = (accepted(bulk, 'bulk') * 1000) / SECONDS;

    console.log(`${target.name}: (4) bare kafkajs producer, 5,000 encoded events a request, acks=all`);
    const bareRate = await bareProducer(target, Math.max(200_000, Math.round(bulkRate * 2)));
    console.log(`${target.name}: (5) bare fastify POST: ${CONNECTIONS} connections for ${SECONDS} s`);
    const bareHttpRate = await bareHttp(singleRequest);
    return { single, singleRate, singleCpuUs, bulk, bulkRate, steady, bareRate, bareHttpRate };
  } finally {
    api.kill('SIGTERM');
    await new Promise((resolve) => api.once('exit', resolve));
  }
}

/**
 * The CPU a process has used, user and system, from /proc: steadier than a rate on a machine
 * whose other core is busy with Kafka and Postgres.
 */
function cpuSeconds(pid: number): number {
  // The fields after the command name, which is in parentheses and may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** A single rating's required work with none of our code in the way: its HTTP, then its produce. */
const floorOf = (f: Figures) => 1 / (1 / f.bareRate + 1 / f.bareHttpRate);

function report(name: string, f: Figures): string {
  return `
${name}
run                                           figure
(1) accepted single ratings/s (HTTP)      ${fmt(f.singleRate).padStart(10)}   p50 ${f.single.latency.p50} ms, p99 ${f.single.latency.p99} ms
    the command API's CPU per accepted rating ${fmt(f.singleCpuUs).padStart(7)} µs
(2) accepted bulk events/s (HTTP)         ${fmt(f.bulkRate).padStart(10)}   p99 ${f.bulk.latency.p99} ms a 1,000-event request
(3) accept latency at 2,000/s             ${fmt(f.steady['2xx'] / SECONDS).padStart(10)}/s p50 ${f.steady.latency.p50} ms, p99 ${f.steady.latency.p99} ms
(4) bare kafkajs producer events/s        ${fmt(f.bareRate).padStart(10)}
(5) bare fastify POST, 202s/s             ${fmt(f.bareHttpRate).padStart(10)}

floor of a single rating, 1/(1/(4) + 1/(5)): ${fmt(floorOf(f))}/s
(1)/floor = ${(f.singleRate / floorOf(f)).toFixed(2)}   (2)/(4) = ${(f.bulkRate / f.bareRate).toFixed(2)}`;
}

const topics = await createTestTopics(6);
const cluster = values.cluster ? await startSecuredCluster(6) : undefined;
try {
  const single = await measure({
    name: 'single plaintext node',
    env: { KAFKA_BROKERS: services.brokers.join(',') },
    topics,
    producer: services.kafka,
  });
  console.log(report('single plaintext node', single));
  if (cluster) {
    const [movieMetadata, movieRatings] = cluster.topics.sources as [string, string];
    const secured = await measure({
      name: 'secured cluster',
      env: cluster.envFor('command-api'),
      topics: { movieMetadata, movieRatings },
      producer: cluster.connectionFor(ADMIN_USER),
    });
    console.log(report('secured three-node cluster (SASL_SSL, replication 3, min.insync.replicas 2)', secured));
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    console.log(`
cluster / single node: single ratings ${ratio(secured.singleRate, single.singleRate)}, bulk ${ratio(secured.bulkRate, single.bulkRate)}, bare producer ${ratio(secured.bareRate, single.bareRate)}
bar: the cluster keeps at least 0.5x of the single node's accepted ratings/s: ${secured.singleRate >= 0.5 * single.singleRate ? 'met' : 'not met'}`);
  }
} finally {
  await topics.remove();
  await cluster?.remove();
}

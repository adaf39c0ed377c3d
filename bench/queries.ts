/**
 * `npm run bench:queries -- [--seconds N] [--connections N] [--movies N] [--steady-rate N]
 * [--steady-seconds N]`, in one run:
 * (1) and (2) GET /v1/movies/{id} of the query API, as its own process over 100,000 movies in a
 * fresh database, beside a bare fastify route answering the same JSON, one after the other with
 * the same load, after a warm-up that reads every movie once (the query API keeps details
 * between reads until a projection commits);
 * (3) the steady state end to end (steady-state.ts): 2,000 commands/s for 30 s, from accepted to
 * visible through the query API with each command's token.
 * Not a test: it prints figures and their ratio.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { REPO_ROOT } from '../infra/paths.ts';
import { profileFlags, waitUntilReady } from './service-probe.ts';
import { createTestDatabase, freePort } from '../harness/services.ts';
import { runSteadyState } from './steady-state.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    connections: { type: 'string' },
    movies: { type: 'string' },
    'steady-rate': { type: 'string' },
    'steady-seconds': { type: 'string' },
  },
});
const SECONDS = Number(values.seconds ?? 10);
const CONNECTIONS = Number(values.connections ?? 32);
const MOVIES = Number(values.movies ?? 100_000);
const STEADY_RATE = Number(values['steady-rate'] ?? 2000);
const STEADY_SECONDS = Number(values['steady-seconds'] ?? 30);
const movieId = (i: number) => `tt${String(i % MOVIES).padStart(7, '0')}`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => `${n.toFixed(1)} ms`;

const db = await createTestDatabase('bench_queries');
const children: ChildProcess[] = [];

function start(main: string, env: Record<string, string>, profile = false): ChildProcess {
  const flags = profile ? profileFlags() : [];
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', path.join(REPO_ROOT, main)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
  return child;
}

/** Uniform reads over every movie, in a scattered order; `amount` reads, or for `seconds`. */
function load(
  base: string,
  { seconds = SECONDS, amount }: { seconds?: number; amount?: number } = {},
): Promise<autocannon.Result> {
  let n = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: base,
        connections: CONNECTIONS,
        ...(amount ? { amount } : { duration: seconds }),
        requests: [
          { setupRequest: (req) => ({ ...req, method: 'GET', path: `/v1/movies/${movieId((n++ * 7919) % MOVIES)}` }) },
        ],
      },
      (err: Error | null, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

let bare: autocannon.Result;
let details: autocannon.Result;
try {
  console.log(`seeding ${fmt(MOVIES)} movies with ratings into ${db.name}`);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(
    `INSERT INTO movie_details.movies (movie_id, title, description, director, year, actors, version, updated_at)
     SELECT 'tt' || lpad(i::text, 7, '0'), 'Movie ' || i, 'A film about the number ' || i || '.', 'Director ' || (i % 997), 1900 + i % 125,
            jsonb_build_array('Actor ' || (i % 5003), 'Actor ' || (i % 7001)), 1 + i % 5, now()
       FROM generate_series(0, $1 - 1) i`,
    [MOVIES],
  );
  await client.query(
    `INSERT INTO ratings.rating_aggregates SELECT 'movie', 'tt' || lpad(i::text, 7, '0'), 10, 37, 1, 1, 2, 3, 3 FROM generate_series(0, $1 - 1) i`,
    [MOVIES],
  );
  await client.query('ANALYZE');
  await client.end();

  const [queryPort, barePort] = [await freePort(), await freePort()];
  start(
    'query-api/main.ts',
    {
      DATABASE_URL: db.url,
      QUERY_API_PORT: String(queryPort),
      EVENT_ID_SECRET: 'bench-event-id-secret-bench-event-id',
      LOG_LEVEL: 'warn',
    },
    true,
  );
  const queryBase = `http://127.0.0.1:${queryPort}`;
  await waitUntilReady(queryBase);
  const sample = await (await fetch(`${queryBase}/v1/movies/${movieId(1)}`)).text();
  start('bench/bare-fastify.ts', { BARE_PORT: String(barePort), BARE_BODY: sample });
  const bareBase = `http://127.0.0.1:${barePort}`;
  await waitUntilReady(bareBase, '/v1/movies/x');

  // A running query API has read its catalogue before; a cold one pays a database read per movie.
  console.log(`warm-up, not counted: 5 s of the bare route, every movie read once from the query API`);
  await load(bareBase, { seconds: 5 });
  await load(queryBase, { amount: MOVIES });
  console.log(`(1) bare fastify, ${CONNECTIONS} connections for ${SECONDS} s`);
  bare = await load(bareBase);
  console.log(`(2) GET /v1/movies/{id}, ${CONNECTIONS} connections for ${SECONDS} s`);
  details = await load(queryBase);
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(
    children.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once('exit', resolve)))),
  );
  await db.drop();
}

console.log(
  `(3) steady state: ${fmt(STEADY_RATE)} commands/s for ${STEADY_SECONDS} s (after 5 s not counted), each read back with its token`,
);
const steady = await runSteadyState({ rate: STEADY_RATE, seconds: STEADY_SECONDS, warmupSeconds: 5 });
const okRate = (r: autocannon.Result) => r['2xx'] / SECONDS;
for (const [label, r] of [
  ['bare', bare],
  ['details', details],
] as const) {
  const other = r.non2xx + r.errors + r.timeouts;
  if (other > 0)
    console.log(
      `  ${label}: ${other} requests not answered 200 (non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts})`,
    );
}
const ratio = okRate(details) / okRate(bare);
console.log(`
run                                   req/s      p50     p99
(1) bare fastify, same JSON      ${fmt(okRate(bare)).padStart(10)}  ${String(bare.latency.p50).padStart(4)} ms ${String(bare.latency.p99).padStart(4)} ms
(2) GET /v1/movies/{id}          ${fmt(okRate(details)).padStart(10)}  ${String(details.latency.p50).padStart(4)} ms ${String(details.latency.p99).padStart(4)} ms

(2)/(1) = ${ratio.toFixed(2)}

(3) steady state: ${fmt(steady.sent)} commands sent (${fmt(steady.sent / STEADY_SECONDS)}/s), ${fmt(steady.accepted)} accepted, ${steady.refused} not accepted,
    ${steady.failedReads} reads not 200${
      steady.failedReads > 0
        ? ` (${Object.entries(steady.failedReadStatuses)
            .map(([status, n]) => `${n} answered ${status}`)
            .join(', ')})`
        : ''
    }, ${steady.stale} reads stale past the 1 s bound
    send to 202:             p50 ${ms(steady.accept.p50)} p99 ${ms(steady.accept.p99)} max ${ms(steady.accept.max)}
    202 to visible (token):  p50 ${ms(steady.visible.p50)} p99 ${ms(steady.visible.p99)} max ${ms(steady.visible.max)}
    projector: ${fmt(steady.projectorGroups / steady.elapsedSeconds)} transactions/s of ${steady.meanGroupBatches.toFixed(1)} partition batches and ${steady.meanGroupRecords.toFixed(1)} records on average
    CPU busy in the ${steady.elapsedSeconds.toFixed(1)} s to the last answer, in cores (of ${availableParallelism()}): ${Object.entries(
      steady.cpu,
    )
      .map(([name, seconds]) => `${name} ${(seconds / steady.elapsedSeconds).toFixed(2)}`)
      .join(', ')}

bars: >= 10,000 req/s ${okRate(details) >= 10_000 ? 'met' : 'not met'}; p99 < 10 ms ${details.latency.p99 < 10 ? 'met' : 'not met'}; >= 0.5x bare ${ratio >= 0.5 ? 'met' : 'not met'}
      steady accepted to visible p99 < 50 ms ${steady.visible.p99 < 50 && steady.stale === 0 && steady.failedReads === 0 ? 'met' : 'not met'}`);

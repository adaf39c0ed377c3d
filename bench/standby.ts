/**
 * `npm run bench:standby -- [--rate N] [--seconds N]`: how long after its 202 a rating is
 * visible to a read with its consistency token, when the query API reads the primary and when it
 * reads a hot standby, in one run: the production shape's Postgres (TLS, a role per service, a
 * standby streaming from the primary), one command API, one projector, and two query APIs, one on
 * each. Commands alternate between the two readers. Not a test: it prints figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { mintToken } from '../command-api/mint-token.ts';
import { clusterDatabase } from '../infra/cluster/database.ts';
import { ensureClusterTls } from '../infra/cluster/tls.ts';
import { dataPath, REPO_ROOT } from '../infra/paths.ts';
import { relocatedHome } from '../infra/postgres-home.ts';
import { createLogger } from '../shared/logger.ts';
import { createTestTopics, freePort, services, uniqueName } from '../harness/services.ts';
import { waitUntilReady } from './service-probe.ts';
import { COMMAND_API_NODE_FLAGS } from '../shared/defaults.ts';

const { values } = parseArgs({ options: { rate: { type: 'string' }, seconds: { type: 'string' } } });
const RATE = Number(values.rate ?? 200);
const SECONDS = Number(values.seconds ?? 20);
const SECRET = 'bench-standby-secret-bench-standby-secret';

const dir = dataPath('bench', uniqueName('standby'));
const topics = await createTestTopics(6);
const database = clusterDatabase(
  `${dir}/postgres`,
  { primary: await freePort(), standby: await freePort() },
  ensureClusterTls(`${dir}/tls`),
);
const children: ChildProcess[] = [];

async function start(main: string, env: Record<string, string>, portSetting: string): Promise<string> {
  const port = await freePort();
  const flags = main === 'command-api/main.ts' ? COMMAND_API_NODE_FLAGS : [];
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', path.join(REPO_ROOT, main)], {
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.includes('DATABASE_URL'))),
      KAFKA_BROKERS: services.brokers.join(','),
      SCHEMA_REGISTRY_URL: services.registryUrl,
      TOPIC_MOVIE_METADATA: topics.movieMetadata,
      TOPIC_MOVIE_RATINGS: topics.movieRatings,
      PROJECTOR_GROUP_ID: uniqueName('bench-standby'),
      JWT_SECRET: SECRET,
      EVENT_ID_SECRET: SECRET,
      RATE_LIMIT_MAX: String(1_000_000_000),
      LOG_LEVEL: 'warn',
      ...env,
      [portSetting]: String(port),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  await waitUntilReady(base);
  return base;
}

/** The p50, p99 and largest of `ms`, as text. */
function spread(ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`;
}

try {
  console.log('starting the TLS primary, its roles, and the standby');
  await database.primary.start();
  await database.prepare(createLogger('bench', 'warn'));
  await database.standby.start();
  await start('projectors/main.ts', database.envFor('projectors'), 'PROJECTOR_PORT');
  const commands = await start('command-api/main.ts', database.envFor('command-api'), 'COMMAND_API_PORT');
  const { DATABASE_URL_FILE: primaryUrl } = database.envFor('query-api');
  const readers = {
    primary: await start('query-api/main.ts', { DATABASE_URL_FILE: primaryUrl! }, 'QUERY_API_PORT'),
    standby: await start('query-api/main.ts', database.envFor('query-api'), 'QUERY_API_PORT'),
  };

  const token = (i: number) => mintToken(SECRET, { sub: `user-${i % 500}`, roles: ['user'] }, 3600);
  const visible = { primary: [] as number[], standby: [] as number[] };
  const stale = { primary: 0, standby: 0 };
  let refused = 0;
  const total = RATE * SECONDS;
  console.log(
    `${total} ratings at ${RATE}/s, each read back with its token, alternately from the primary and the standby`,
  );
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    inFlight.push(
      (async () => {
        const movie = `tt${String(i % 200).padStart(7, '0')}`;
        const response = await fetch(`${commands}/v1/movies/${movie}/ratings`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token(i)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ value: 1 + (i % 5) }),
        });
        if (response.status !== 202) {
          refused += 1;
          return;
        }
        const accepted = performance.now();
        const { consistencyToken } = (await response.json()) as { consistencyToken: string };
        const reader = i % 2 === 0 ? 'primary' : 'standby';
        const read = await fetch(`${readers[reader]}/v1/movies/${movie}/rating`, {
          headers: { 'x-consistency-token': consistencyToken },
        });
        await read.arrayBuffer();
        visible[reader].push(performance.now() - accepted);
        if (read.headers.get('x-consistency') !== 'consistent') stale[reader] += 1;
      })(),
    );
  }
  await Promise.all(inFlight);
  console.log(`
accepted to visible (a read with the command's token, from its 202 to the read's answer)
  query API on the primary: ${spread(visible.primary)}  (${visible.primary.length} reads, ${stale.primary} stale)
  query API on the standby: ${spread(visible.standby)}  (${visible.standby.length} reads, ${stale.standby} stale)
  commands not accepted: ${refused}`);
} finally {
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) =>
          child.exitCode === null ? (child.once('exit', resolve), child.kill('SIGTERM')) : resolve(null),
        ),
    ),
  );
  await database.standby.stop();
  await database.primary.stop();
  await topics.remove();
  for (const folder of ['primary', 'standby'])
    rmSync(relocatedHome(`${dir}/postgres/${folder}`), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}

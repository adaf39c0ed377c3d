import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { mintToken } from '../command-api/mint-token.ts';
import { REPO_ROOT } from '../infra/paths.ts';
import { leanHttpPool, type LeanHttpPool } from './lean-http.ts';
import { metricTotal, profileFlags, waitUntilReady } from './service-probe.ts';
import { startProjectorProcess } from '../harness/projector-process.ts';
import { createTestDatabase, createTestTopics, freePort, services, uniqueName } from '../harness/services.ts';
import { COMMAND_API_NODE_FLAGS } from '../shared/defaults.ts';

const SECRET = 'bench-steady-secret-bench-steady-secret-0123';
const MOVIES = 20_000;
const USERS = 200;
/** One command in this many sets a movie's metadata; the others rate one. */
const METADATA_EVERY = 10;
const movieId = (i: number) => `tt${String(i % MOVIES).padStart(7, '0')}`;

export interface SteadyStateFigures {
  sent: number;
  accepted: number;
  /** Commands not answered 202, reads not answered 200, reads answered past the wait bound. */
  refused: number;
  failedReads: number;
  /** The reads not answered 200, by status. */
  failedReadStatuses: Record<number, number>;
  stale: number;
  /** From the first command counted to the last answer: longer than the sending when answers lag. */
  elapsedSeconds: number;
  /** CPU seconds each process used in that time. */
  cpu: Record<string, number>;
  /** Groups of partition batches (a transaction each) the projector applied in that time, and their mean size. */
  projectorGroups: number;
  meanGroupBatches: number;
  meanGroupRecords: number;
  /** Milliseconds from sending the command to its 202. */
  accept: Percentiles;
  /** Milliseconds from the 202 to the answer of the read carrying its token: accepted to visible. */
  visible: Percentiles;
}

export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? Number.NaN };
}

/** Linux's /proc counts CPU time in ticks of 1/100 s, whatever the kernel's own clock. */
const TICKS_PER_SECOND = 100;

/** CPU seconds a process has used so far, user and system time; NaN where /proc is not. */
function cpuSeconds(pid: number | undefined): number {
  try {
    // The command name, in parentheses, may hold spaces; the fields after it do not.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** The processes of the services the system runs on, by name: Postgres's (one per connection) and the JVMs. */
function servicePids(): Record<string, number[]> {
  const pids: Record<string, number[]> = { postgres: [], kafka: [], 'schema registry': [] };
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let command: string;
    try {
      command = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const program = path.basename(command.split('\0')[0] ?? '');
    if (program === 'postgres' || command.startsWith('postgres:')) pids.postgres!.push(Number(entry));
    else if (program === 'java' && command.includes('kafka.Kafka')) pids.kafka!.push(Number(entry));
    else if (program === 'java' && command.includes('apicurio')) pids['schema registry']!.push(Number(entry));
  }
  return pids;
}

/** CPU seconds the whole machine has been busy so far, every core and process (Kafka, Postgres...). */
function machineBusySeconds(): number {
  try {
    const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return (user! + nice! + system! + irq! + softirq!) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/**
 * The steady state end to end, as its users see it: the command API, the projectors and the
 * query API as their own processes on fresh topics and a fresh database; commands sent at a
 * fixed rate whatever the answers' speed (an open loop, so a slow system cannot slow its own
 * load down), each followed, once accepted, by a read carrying its consistency token. The read
 * answers when the projections have applied the command's events, so the time from the 202 to
 * that answer is the time from accepted to visible through the query API.
 */
export async function runSteadyState({
  rate,
  seconds,
  warmupSeconds,
}: {
  rate: number;
  seconds: number;
  warmupSeconds: number;
}): Promise<SteadyStateFigures> {
  const [db, topics] = await Promise.all([createTestDatabase('bench_steady'), createTestTopics(6)]);
  const children: ChildProcess[] = [];
  const pools: LeanHttpPool[] = [];
  const [commandPort, queryPort, projectorPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const shared = {
    KAFKA_BROKERS: services.brokers.join(','),
    SCHEMA_REGISTRY_URL: services.registryUrl,
    TOPIC_MOVIE_METADATA: topics.movieMetadata,
    TOPIC_MOVIE_RATINGS: topics.movieRatings,
    DATABASE_URL: db.url,
    EVENT_ID_SECRET: SECRET,
    LOG_LEVEL: 'warn',
  };
  const nodeFlags = profileFlags();
  const start = (main: string, env: Record<string, string>, ownFlags: readonly string[] = []): ChildProcess => {
    const child = spawn(process.execPath, [...nodeFlags, ...ownFlags, '--import', 'tsx', path.join(REPO_ROOT, main)], {
      env: { ...process.env, ...shared, ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    return child;
  };
  const projector = startProjectorProcess({
    databaseUrl: db.url,
    topics,
    groupId: uniqueName('bench-steady'),
    env: { PROJECTOR_PORT: String(projectorPort), LOG_LEVEL: 'warn' },
    nodeFlags,
  });
  try {
    // The projector migrates the database; the others start once it is ready.
    await waitUntilReady(`http://127.0.0.1:${projectorPort}`);
    const commandApi = start(
      'command-api/main.ts',
      { COMMAND_API_PORT: String(commandPort), JWT_SECRET: SECRET, RATE_LIMIT_MAX: String(1_000_000_000) },
      COMMAND_API_NODE_FLAGS,
    );
    const queryApi = start('query-api/main.ts', { QUERY_API_PORT: String(queryPort) });
    const commandBase = `http://127.0.0.1:${commandPort}`;
    const queryBase = `http://127.0.0.1:${queryPort}`;
    await Promise.all([waitUntilReady(commandBase), waitUntilReady(queryBase)]);

    const commands = leanHttpPool('127.0.0.1', commandPort, 128);
    const queries = leanHttpPool('127.0.0.1', queryPort, 128);
    pools.push(commands, queries);
    const users = Array.from(
      { length: USERS },
      (_, i) => `Bearer ${mintToken(SECRET, { sub: `user${i}`, roles: ['user'] }, 3600)}`,
    );
    const admin = `Bearer ${mintToken(SECRET, { sub: 'admin', roles: ['admin'] }, 3600)}`;
    const figures = {
      sent: 0,
      accepted: 0,
      refused: 0,
      failedReads: 0,
      failedReadStatuses: {} as Record<number, number>,
      stale: 0,
      accept: [] as number[],
      visible: [] as number[],
    };

    /** One command and the read of its effect; counted only when `counted`. */
    async function commandThenRead(n: number, counted: boolean): Promise<void> {
      const movie = movieId(n * 7919);
      const metadata = n % METADATA_EVERY === 0;
      const sent = performance.now();
      const answer = metadata
        ? await commands.request(
            'POST',
            `/v1/movies/${movie}/metadata`,
            { authorization: admin, 'content-type': 'application/json' },
            JSON.stringify({ title: `Movie ${n}`, description: 'Steady.', director: `Director ${n % 97}` }),
          )
        : await commands.request(
            'POST',
            `/v1/movies/${movie}/ratings`,
            { authorization: users[n % USERS]!, 'content-type': 'application/json' },
            JSON.stringify({ value: 1 + (n % 5) }),
          );
      const accepted = performance.now();
      if (answer.status !== 202) {
        if (counted) figures.refused++;
        return;
      }
      const token = (JSON.parse(answer.body) as { consistencyToken: string }).consistencyToken;
      const read = await queries.request('GET', `/v1/movies/${movie}${metadata ? '' : '/rating'}`, {
        'x-consistency-token': token,
      });
      const visible = performance.now();
      if (!counted) return;
      figures.accepted++;
      figures.accept.push(accepted - sent);
      if (read.status !== 200) {
        figures.failedReads++;
        figures.failedReadStatuses[read.status] = (figures.failedReadStatuses[read.status] ?? 0) + 1;
      } else if (read.headers.get('x-consistency') !== 'consistent') figures.stale++;
      else figures.visible.push(visible - accepted);
    }

    let n = 0;
    const inFlight = new Set<Promise<void>>();
    /** Sends `rate` commands a second for `duration` seconds, catching up on the schedule each tick. */
    async function drive(duration: number, counted: boolean): Promise<void> {
      const began = performance.now();
      let issued = 0;
      for (;;) {
        const elapsed = (performance.now() - began) / 1000;
        if (elapsed >= duration) break;
        for (const due = Math.floor(elapsed * rate); issued < due; issued++) {
          const work = commandThenRead(n++, counted).catch(() => {
            if (counted) figures.refused++;
          });
          inFlight.add(work);
          void work.finally(() => inFlight.delete(work));
          if (counted) figures.sent++;
        }
        await sleep(1);
      }
      await Promise.all(inFlight);
    }

    const processes = { 'command-api': commandApi.pid, 'query-api': queryApi.pid, projectors: projector.child.pid };
    const projectorBatches = async () => {
      const exposition = await (await fetch(`http://127.0.0.1:${projectorPort}/metrics`)).text();
      return {
        groups: metricTotal(exposition, 'projection_group_batches_count'),
        batches: metricTotal(exposition, 'projection_group_batches_sum'),
        records: metricTotal(exposition, 'projection_batch_size_sum'),
      };
    };

    await drive(warmupSeconds, false);
    // Postgres's backends, one per connection, are all open by now: the pools have warmed up.
    const services = servicePids();
    const serviceCpu = () =>
      Object.fromEntries(Object.entries(services).map(([name, pids]) => [name, pids.map(cpuSeconds)]));
    const cpuBefore = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, cpuSeconds(pid)]));
    const serviceCpuBefore = serviceCpu();
    const machineBefore = machineBusySeconds();
    const ownBefore = process.cpuUsage();
    const batchesBefore = await projectorBatches();
    const began = performance.now();
    await drive(seconds, true);
    const elapsedSeconds = (performance.now() - began) / 1000;
    const own = process.cpuUsage(ownBefore);
    const cpu = Object.fromEntries(
      Object.entries(processes).map(([name, pid]) => [name, cpuSeconds(pid) - cpuBefore[name]!]),
    );
    // A process gone meanwhile (NaN now) counts for nothing rather than for less than nothing.
    for (const [name, after] of Object.entries(serviceCpu()))
      cpu[name] = after.reduce(
        (sum, seconds, i) => sum + (Number.isNaN(seconds) ? 0 : seconds - serviceCpuBefore[name]![i]!),
        0,
      );
    cpu['load generator'] = (own.user + own.system) / 1e6;
    cpu['whole machine'] = machineBusySeconds() - machineBefore;
    const batchesAfter = await projectorBatches();
    const groups = batchesAfter.groups - batchesBefore.groups;
    return {
      ...figures,
      elapsedSeconds,
      cpu,
      projectorGroups: groups,
      meanGroupBatches: groups > 0 ? (batchesAfter.batches - batchesBefore.batches) / groups : 0,
      meanGroupRecords: groups > 0 ? (batchesAfter.records - batchesBefore.records) / groups : 0,
      accept: percentiles(figures.accept),
      visible: percentiles(figures.visible),
    };
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once('exit', resolve)))),
    );
    await projector.kill('SIGTERM');
    for (const pool of pools) pool.close();
    await Promise.all([db.drop(), topics.remove()]);
  }
}

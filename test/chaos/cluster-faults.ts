import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runningPid } from '../../infra/daemon.ts';
import { REPO_ROOT } from '../../infra/paths.ts';
import type { InfraService } from '../../infra/service.ts';
import { seededRandom } from '../../harness/rating-stream.ts';
import type { FaultLog, FaultPlan } from './faults.ts';
import { systemEnv, type Services } from './processes.ts';
import type { World } from './world.ts';

/** A stretch of the run during which brokers were down, for the report. */
export interface FaultWindow {
  fault: string;
  from: number;
  /** When the brokers were started again. */
  to: number;
  /** Whether fewer than min.insync.replicas brokers were up: no write may be acknowledged. */
  belowMinIsr: boolean;
}

const count = (log: FaultLog, fault: string) => log.injected.set(fault, (log.injected.get(fault) ?? 0) + 1);

const nodeId = (world: World, node: InfraService) => world.brokers.indexOf(node) + 1;

function kill(node: InfraService): void {
  const pid = runningPid(node.name);
  if (pid !== undefined) process.kill(pid, 'SIGKILL');
}

/** Waits until the killed process is gone, so that starting it again finds its ports free. */
async function gone(node: InfraService): Promise<void> {
  while (runningPid(node.name) !== undefined) await sleep(50);
}

/** The node leading the partition of the ratings topic that holds the most events. */
async function busiestLeader(world: World): Promise<InfraService> {
  const admin = world.kafka.admin();
  await admin.connect();
  try {
    const topic = world.topics.movieRatings;
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    const offsets = await admin.fetchTopicOffsets(topic);
    const busiest = offsets.reduce((a, b) => (Number(b.high) > Number(a.high) ? b : a));
    const leader = metadata!.partitions.find((p) => p.partitionId === busiest.partition)!.leader;
    return world.brokers[leader - 1]!;
  } finally {
    await admin.disconnect();
  }
}

/** The active controller, as the nodes' own quorum state names it. */
function activeController(world: World): InfraService | undefined {
  for (let id = 1; id <= world.brokers.length; id++) {
    const file = path.join(world.dir, 'kafka', `node-${id}`, 'data', '__cluster_metadata-0', 'quorum-state');
    if (!existsSync(file)) continue;
    const { leaderId } = JSON.parse(readFileSync(file, 'utf8')) as { leaderId: number };
    if (leaderId > 0) return world.brokers[leaderId - 1];
  }
  return undefined;
}

/** Waits until every partition of the source topics has all three replicas in sync again. */
async function fullyReplicated(world: World, timeoutMs = 120_000): Promise<void> {
  const admin = world.kafka.admin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const { topics } = await admin
        .fetchTopicMetadata({ topics: [world.topics.movieMetadata, world.topics.movieRatings] })
        .catch(() => ({ topics: [] }));
      if (topics.length === 2 && topics.every((t) => t.partitions.every((p) => p.isr.length === world.brokers.length)))
        return;
      if (Date.now() > deadline)
        throw new Error(`the cluster's replicas were not all in sync ${timeoutMs / 1000} s after the fault`);
      await sleep(500);
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * The cluster's faults, while the load runs: the leader of the busiest partition SIGKILLed, then
 * the active controller, then a node killed while a replay rebuilds the ratings, then two nodes
 * at once (below min.insync.replicas: no write may be acknowledged) with one of them back after
 * a while. Each time the killed nodes start again, and the next fault waits for every replica
 * to be in sync.
 */
export async function injectClusterFaults(
  world: World,
  system: Services,
  plan: FaultPlan,
  log: FaultLog,
  seed: number,
): Promise<FaultWindow[]> {
  const random = seededRandom(seed);
  const windows: FaultWindow[] = [];
  async function outage(
    fault: string,
    nodes: InfraService[],
    downMs: number,
    during?: Promise<unknown>,
  ): Promise<void> {
    log.say(
      `${fault}: SIGKILL of node ${nodes.map((n) => nodeId(world, n)).join(' and ')}, started again after ${downMs / 1000} s`,
    );
    const from = Date.now();
    for (const node of nodes) kill(node);
    count(log, fault);
    await Promise.all(nodes.map(gone));
    await sleep(downMs);
    const to = Date.now();
    await Promise.all(nodes.map((node) => node.start()));
    windows.push({ fault, from, to, belowMinIsr: nodes.length >= 2 });
    await during;
    await fullyReplicated(world);
    await Promise.all(system.all().map((i) => i.ready(120_000)));
  }

  await outage('busiest partition leader killed', [await busiestLeader(world)], plan.brokerDownMs);
  const controller = activeController(world) ?? world.brokers[0]!;
  await outage('active controller killed', [controller], plan.brokerDownMs);

  log.say('a replay of the ratings, with a node killed while it rebuilds');
  const replay = runReplay(world);
  await replay.rebuilding;
  await sleep(random() * 1000);
  await outage(
    'node killed during a replay',
    [world.brokers[Math.floor(random() * world.brokers.length)]!],
    plan.brokerDownMs,
    replay.done,
  );

  const [first, second] = [...world.brokers].sort(() => random() - 0.5);
  log.say('two nodes killed at once: below min.insync.replicas, then one back, then the other');
  const from = Date.now();
  kill(first!);
  kill(second!);
  count(log, 'two nodes killed at once');
  await Promise.all([gone(first!), gone(second!)]);
  await sleep(plan.brokerDownMs);
  const to = Date.now();
  await first!.start();
  windows.push({ fault: 'two nodes killed at once', from, to, belowMinIsr: true });
  await sleep(plan.brokerDownMs);
  await second!.start();
  await fullyReplicated(world);
  await Promise.all(system.all().map((i) => i.ready(120_000)));
  return windows;
}

/**
 * `npm run replay -- ratings` as its own Kafka user, its output in replay.log: `rebuilding` once it
 * says it is, `done` once it succeeded (it fails otherwise).
 */
function runReplay(world: World): { rebuilding: Promise<void>; done: Promise<void> } {
  const logFile = path.join(world.dir, 'replay.log');
  const log = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'projectors', 'replay', 'cli.ts'), 'ratings'],
    {
      env: systemEnv(world, 'replay'),
      stdio: ['ignore', log, log],
    },
  );
  let exited = false;
  const done = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => {
      exited = true;
      closeSync(log);
      if (code === 0) resolve();
      else reject(new Error(`the replay failed (exit ${code}); its output is in ${logFile}`));
    });
  });
  const rebuilding = (async () => {
    while (!exited && !readFileSync(logFile, 'utf8').includes('rebuilding')) await sleep(100);
  })();
  return { rebuilding, done };
}

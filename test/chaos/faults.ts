import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompressionTypes } from 'kafkajs';
import { EventCodec } from '../../shared/kafka/codec.ts';
import { newEventId } from '../../shared/events/event-id.ts';
import { seededRandom } from '../../harness/rating-stream.ts';
import { startInstance, type Instance, type Services } from './processes.ts';
import type { InfraService } from '../../infra/service.ts';
import { injectClusterFaults, type FaultWindow } from './cluster-faults.ts';
import type { World } from './world.ts';
import { registryClient } from '../../shared/registry.ts';

/** How hard the run hits: the full `npm run chaos` and the shortened form in `npm test` differ only here. */
export interface FaultPlan {
  projectorKills: number;
  brokerDownMs: number;
  postgresDownMs: number;
  poisonRecords: number;
}

/** A record written straight to a source topic, by a client that is not ours. */
export interface PoisonWrite {
  topic: string;
  partition: number;
  offset: number;
  what: string;
}

export interface FaultLog {
  say(line: string): void;
  /** What was injected, for the report. */
  injected: Map<string, number>;
  poison: PoisonWrite[];
  /** When brokers were down, on the cluster. */
  windows: FaultWindow[];
}

const count = (log: FaultLog, fault: string) => log.injected.set(fault, (log.injected.get(fault) ?? 0) + 1);

/**
 * The faults, one after another, while the load runs: SIGKILLs of projectors at random moments,
 * a command API killed, members joining and leaving, poison records, the broker stopped and
 * started, Postgres stopped and started. Each step waits for the system to be ready again.
 */
export async function injectFaults(
  world: World,
  system: Services,
  plan: FaultPlan,
  log: FaultLog,
  seed: number,
): Promise<void> {
  const random = seededRandom(seed);
  const pause = (minMs: number, spreadMs: number) => sleep(minMs + random() * spreadMs);

  log.say(`SIGKILL of a projector, ${plan.projectorKills} times at random moments`);
  for (let i = 0; i < plan.projectorKills; i++) {
    const victim = system.projectors[Math.floor(random() * system.projectors.length)]!;
    await victim.stop('SIGKILL');
    count(log, 'projector SIGKILL');
    await pause(200, 1500);
    victim.start();
    await pause(500, 2500);
  }
  await Promise.all(system.projectors.map((p) => p.ready()));

  log.say('SIGKILL of a command API, started again after 3 s');
  const commandApi = system.commandApis[0]!;
  await commandApi.stop('SIGKILL');
  count(log, 'command-api SIGKILL');
  await sleep(3000);
  commandApi.start();
  await commandApi.ready();

  log.say('a fourth projector joins, one leaves (SIGTERM) and comes back, the fourth leaves');
  const joiner: Instance = await startInstance(world, 'projectors', system.projectors.length + 1);
  system.projectors.push(joiner);
  count(log, 'projector joins');
  await joiner.ready();
  await pause(2000, 2000);
  const leaver = system.projectors[1]!;
  await leaver.stop('SIGTERM');
  count(log, 'projector leaves');
  await pause(2000, 2000);
  leaver.start();
  count(log, 'projector joins');
  await leaver.ready();
  await joiner.close();
  system.projectors.pop();
  count(log, 'projector leaves');

  log.say(`${plan.poisonRecords} poison records written by a plain Kafka client`);
  log.poison.push(...(await writePoison(world, plan.poisonRecords)));
  count(log, 'poison records');
  await pause(1000, 1000);

  if (world.cluster) {
    log.windows.push(...(await injectClusterFaults(world, system, plan, log, seed)));
  } else {
    const [broker] = world.brokers as [InfraService];
    log.say(`the Kafka broker stopped for ${plan.brokerDownMs / 1000} s`);
    await broker.stop();
    count(log, 'broker restart');
    await sleep(plan.brokerDownMs);
    await broker.start();
    await Promise.all(system.all().map((i) => i.ready(120_000)));
  }

  log.say(`Postgres stopped for ${plan.postgresDownMs / 1000} s`);
  await world.postgres.stop();
  count(log, 'Postgres outage');
  await sleep(plan.postgresDownMs);
  await world.postgres.start();
  await Promise.all(system.all().map((i) => i.ready(120_000)));
}

/**
 * Records no projection can ever apply, each of another kind, on keys of their own (so that the
 * parking they cause touches no movie of the load): bytes that are not Avro, a schema id nobody
 * registered, a valid encoding cut short, JSON. One send per record, to learn its offset.
 */
async function writePoison(world: World, n: number): Promise<PoisonWrite[]> {
  const codec = await EventCodec.forWriting(registryClient(world.registry), world.topics);
  const now = new Date();
  const valid = codec.encode({
    type: 'RatingSubmitted',
    envelope: { eventId: newEventId(now.getTime()), occurredAt: now, principal: 'chaos', correlationId: 'chaos' },
    recordType: 'movie',
    recordId: 'poison',
    userId: 'chaos',
    value: 5,
    providerId: null,
  }).value;
  const kinds: Array<{ what: string; value: () => Buffer }> = [
    { what: 'random bytes', value: () => randomBytes(40) },
    {
      what: 'unregistered schema id',
      value: () => Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), randomBytes(20)]),
    },
    { what: 'truncated Avro', value: () => valid.subarray(0, Math.max(6, valid.length - 12)) },
    { what: 'JSON', value: () => Buffer.from('{"movieId":"m001","value":5}') },
  ];
  const producer = world.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const written: PoisonWrite[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const kind = kinds[i % kinds.length]!;
      const topic = i % 2 === 0 ? world.topics.movieRatings : world.topics.movieMetadata;
      const [meta] = await producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.None,
        messages: [{ key: `poison-${i}`, value: kind.value() }],
      });
      written.push({ topic, partition: meta!.partition, offset: Number(meta!.baseOffset), what: kind.what });
    }
  } finally {
    await producer.disconnect();
  }
  return written;
}

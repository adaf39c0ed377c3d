import type { RatingEvent } from '../shared/events/types.ts';
import {
  CompressionTypes,
  Partitioners,
  type Kafka,
  type Message,
  type PartitionMetadata,
  type Producer,
} from 'kafkajs';
import { EventCodec } from '../shared/kafka/codec.ts';
import type { BenchOptions } from './args.ts';
import { createBenchTopics, deleteBenchTopics, recordCount, type BenchTopics } from './kafka.ts';
import { ExpectedFold, ratingEvents, takeEvents } from '../harness/rating-stream.ts';
import { registryClient } from '../shared/registry.ts';
import type { RegistryConnection } from '../shared/registry.ts';

/** Events generated and encoded at a time. */
const CHUNK = 6_000;
/** Records per send of one partition: about 500 KB, under the broker's 1 MB batch limit. */
const LANE_BATCH = 2_000;
/** Sends queued behind one partition's send in flight before generation waits for them. */
const LANE_DEPTH = 2;

export interface Production {
  fold: ExpectedFold;
  seconds: number;
}

/**
 * One partition's queue of sends. kafkajs does not keep the order of overlapping send() calls
 * (a later call can reach the broker first), so each partition gets one send at a time, chained
 * after the previous one; the six partitions still send in parallel.
 */
class Lane {
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;
  buffer: Message[] = [];

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    readonly partition: number,
  ) {}

  /** Queues the buffered messages; waits first when the lane is already deep in sends. */
  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    if (this.queued >= LANE_DEPTH) await this.tail;
    const messages = this.buffer;
    this.buffer = [];
    this.queued += 1;
    // After a failure the chain stays rejected: nothing later is sent, so nothing overtakes it.
    this.tail = this.tail.then(async () => {
      await send(this.producer, this.topic, this.partition, messages);
      this.queued -= 1;
    });
    // Marks the rejection as seen here; it is rethrown when the lane is drained.
    this.tail.catch(() => undefined);
  }

  drain(): Promise<void> {
    return this.tail;
  }
}

/**
 * Writes `count` generated rating events to `topic` as fast as kafkajs goes, folding them in
 * produce order meanwhile. Each record goes to the partition the murmur2 default partitioner
 * gives its key (the recordId), as the command API's publisher would send it, and a partition's
 * records are sent in order, so the log holds each movie's events in produce order.
 */
export async function produceRatings(
  kafka: Kafka,
  codec: EventCodec,
  topic: string,
  count: number,
  seed: number,
): Promise<Production> {
  const partitionOf = await murmur2Partitioner(kafka, topic);
  const producer: Producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    // A retried send could land after the next send of its partition; better to fail the run.
    retry: { retries: 0 },
  });
  await producer.connect();
  const fold = new ExpectedFold();
  const started = performance.now();
  try {
    const lanes = new Map<number, Lane>();
    const laneOf = (partition: number) =>
      lanes.get(partition) ?? lanes.set(partition, new Lane(producer, topic, partition)).get(partition)!;
    const events = ratingEvents(seed);
    let reported = 0;
    for (let produced = 0; produced < count;) {
      const chunk = takeEvents(events, Math.min(CHUNK, count - produced), fold);
      for (const message of encodeAll(codec, chunk)) {
        const lane = laneOf(partitionOf(message));
        lane.buffer.push(message);
        if (lane.buffer.length >= LANE_BATCH) await lane.flush();
      }
      produced += chunk.length;
      if (produced - reported >= count / 10 || produced === count) {
        reported = produced;
        console.log(`  encoded ${produced.toLocaleString('en-US')} / ${count.toLocaleString('en-US')}`);
      }
    }
    for (const lane of lanes.values()) await lane.flush();
    await Promise.all([...lanes.values()].map((lane) => lane.drain()));
  } finally {
    await producer.disconnect();
  }
  return { fold, seconds: (performance.now() - started) / 1000 };
}

/** kafkajs's own Java-compatible partitioner, fed the topic's partitions once. */
async function murmur2Partitioner(kafka: Kafka, topic: string): Promise<(message: Message) => number> {
  const admin = kafka.admin();
  await admin.connect();
  let partitionMetadata: PartitionMetadata[];
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    partitionMetadata = topics[0]?.partitions ?? [];
  } finally {
    await admin.disconnect();
  }
  const partitioner = Partitioners.DefaultPartitioner();
  return (message) => partitioner({ topic, partitionMetadata, message });
}

function encodeAll(codec: EventCodec, events: readonly RatingEvent[]): Message[] {
  return events.map((event) => {
    const { key, value, headers } = codec.encode(event);
    return { key, value, headers };
  });
}

async function send(producer: Producer, topic: string, partition: number, messages: Message[]): Promise<void> {
  const results = await producer.send({
    topic,
    acks: -1,
    compression: CompressionTypes.None,
    messages: messages.map((m) => ({ ...m, partition })),
  });
  const failed = results.find((r) => r.errorCode !== 0);
  if (failed) throw new Error(`Kafka refused a batch for ${topic}/${failed.partition}: error code ${failed.errorCode}`);
}

/**
 * Makes the bench topic hold exactly N events: reused when it already does (returns undefined,
 * the fold then comes from reading it back), else produced afresh (returns their fold).
 */
export async function prepareTopic(
  kafka: Kafka,
  registry: RegistryConnection,
  topics: BenchTopics,
  bench: Pick<BenchOptions, 'events' | 'seed'>,
): Promise<ExpectedFold | undefined> {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const existing = await recordCount(kafka, topics.movieRatings);
  if (existing === bench.events) {
    console.log(`reusing ${topics.movieRatings}: it holds ${fmt(existing)} records`);
    await createBenchTopics(kafka, topics);
    return undefined;
  }
  if (existing > 0) {
    console.log(`${topics.movieRatings} holds ${fmt(existing)} records, not ${fmt(bench.events)}: recreating it`);
    await deleteBenchTopics(kafka, topics);
  }
  await createBenchTopics(kafka, topics);
  const codec = await EventCodec.forWriting(registryClient(registry), topics);
  console.log(`producing ${fmt(bench.events)} rating events into ${topics.movieRatings} (seed ${bench.seed})`);
  try {
    const production = await produceRatings(kafka, codec, topics.movieRatings, bench.events, bench.seed);
    console.log(
      `  produced in ${production.seconds.toFixed(1)} s (${fmt(Math.round(bench.events / production.seconds))} events/s)`,
    );
    return production.fold;
  } catch (err) {
    // A partly written topic would be taken for a complete one by no run, but would cost the next a delete.
    await deleteBenchTopics(kafka, topics).catch(() => undefined);
    throw err;
  }
}

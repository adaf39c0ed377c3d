import type { Kafka, KafkaMessage } from 'kafkajs';
import { EventDecoder, type DecodeResult } from '../shared/kafka/decoder.ts';
import { ExpectedFold } from '../harness/rating-stream.ts';
import type { RegistryConnection } from '../shared/registry.ts';

const MB = 1024 * 1024;

export interface BareRead {
  seconds: number;
  /** The ratings folded from the log as read back, partition by partition. */
  fold: ExpectedFold;
  poison: number;
}

/** What the fold needs of each event, kept while the clock runs so that folding costs it nothing. */
interface Kept {
  recordId: string[];
  userId: string[];
  value: Array<number | null>;
}

/**
 * The ceiling: a consumer that only fetches and decodes, with the projector's decoder and
 * kafkajs tuned for throughput. Timed from run() until every record is decoded.
 */
export async function readAndDecode(
  kafka: Kafka,
  registry: RegistryConnection,
  topic: string,
  count: number,
  groupId: string,
): Promise<BareRead> {
  const consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: 8 * MB,
    maxBytes: 64 * MB,
    maxWaitTimeInMs: 100,
  });
  const decoder = new EventDecoder(registry);
  // A partition's events in log order; a movie lives in one partition, so partitions fold independently.
  const kept = new Map<number, Kept>();
  const nextOffset = new Map<number, number>();
  let decoded = 0;
  let poison = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));

  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const started = performance.now();
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: 6,
      eachBatch: async ({ batch }) => {
        // A batch fetched again (after a rebalance) must not be counted twice.
        const from = nextOffset.get(batch.partition) ?? 0;
        const fresh = batch.messages.filter((m) => Number(m.offset) >= from);
        if (fresh.length === 0) return;
        const results = await decoder.decodeAll(fresh);
        nextOffset.set(batch.partition, Number(fresh.at(-1)!.offset) + 1);
        poison += keep(kept, batch.partition, fresh, results);
        decoded += fresh.length;
        if (decoded >= count) finish();
      },
    });
    await done;
    const seconds = (performance.now() - started) / 1000;
    return { seconds, fold: foldKept(kept), poison };
  } finally {
    await consumer.disconnect();
  }
}

/** Keeps the fold's inputs of a batch; returns how many records did not decode. */
function keep(
  kept: Map<number, Kept>,
  partition: number,
  messages: readonly KafkaMessage[],
  results: readonly DecodeResult[],
): number {
  let entry = kept.get(partition);
  if (!entry) {
    entry = { recordId: [], userId: [], value: [] };
    kept.set(partition, entry);
  }
  let bad = 0;
  for (let i = 0; i < messages.length; i += 1) {
    const result = results[i]!;
    if (!result.ok) {
      bad += 1;
      continue;
    }
    const { event } = result;
    if (event.type === 'MovieMetadataSet') continue;
    entry.recordId.push(event.recordId);
    entry.userId.push(event.userId);
    entry.value.push(event.type === 'RatingSubmitted' ? event.value : null);
  }
  return bad;
}

function foldKept(kept: ReadonlyMap<number, Kept>): ExpectedFold {
  const fold = new ExpectedFold();
  for (const { recordId, userId, value } of kept.values()) {
    for (let i = 0; i < recordId.length; i += 1) fold.apply(recordId[i]!, userId[i]!, value[i] ?? null);
  }
  return fold;
}

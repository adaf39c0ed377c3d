import type { Kafka } from 'kafkajs';
import { EventDecoder } from '../../shared/kafka/decoder.ts';
import type { CatalogueEvent } from '../../shared/events/types.ts';
import { services } from '../../harness/services.ts';

/** The end offset of each partition of each topic, as `topic/partition` -> offset. */
export async function endOffsets(kafka: Kafka, topics: readonly string[]): Promise<Map<string, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = new Map<string, number>();
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) ends.set(`${topic}/${p.partition}`, Number(p.high));
    }
    return ends;
  } finally {
    await admin.disconnect();
  }
}

/** How many records the topics hold in all. */
export async function recordCount(kafka: Kafka, topics: readonly string[]): Promise<number> {
  return [...(await endOffsets(kafka, topics)).values()].reduce((a, b) => a + b, 0);
}

export interface LoggedRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export interface LoggedEvent extends Omit<LoggedRecord, 'value'> {
  event: CatalogueEvent;
}

/**
 * Every record of `topic` up to its current end, in partition and offset order, as stored.
 * Reads with a consumer outside any committed group and commits nothing.
 */
export async function readRecords(kafka: Kafka, topic: string): Promise<LoggedRecord[]> {
  const ends = await endOffsets(kafka, [topic]);
  const found: LoggedRecord[] = [];
  const consumer = kafka.consumer({ groupId: `reader-${topic}-${process.pid}-${Date.now()}` });
  await consumer.connect();
  try {
    const pending = new Set([...ends].filter(([, end]) => end > 0).map(([key]) => key));
    if (pending.size === 0) return [];
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        autoCommit: false,
        eachMessage: ({ partition, message }) => {
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
          found.push({
            topic,
            partition,
            offset: Number(message.offset),
            key: message.key?.toString() ?? null,
            value: message.value,
            headers,
          });
          if (Number(message.offset) + 1 >= ends.get(`${topic}/${partition}`)!) pending.delete(`${topic}/${partition}`);
          if (pending.size === 0) resolve();
          return Promise.resolve();
        },
      });
    });
    return found.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  } finally {
    await consumer.disconnect();
  }
}

/** Every record of `topic` up to its current end, decoded; a record that does not decode fails the read. */
export async function readEvents(kafka: Kafka, topic: string): Promise<LoggedEvent[]> {
  const decoder = new EventDecoder(services.registry);
  const events: LoggedEvent[] = [];
  for (const { value, ...record } of await readRecords(kafka, topic)) {
    const decoded = await decoder.decode({ value, headers: record.headers });
    if (!decoded.ok)
      throw new Error(`${topic}/${record.partition}@${record.offset} does not decode: ${decoded.poison.code}`);
    events.push({ ...record, event: decoded.event });
  }
  return events;
}

import type { Kafka } from 'kafkajs';
import type { SourceRecord } from '../pipeline/dead-letters.ts';
import { DEFAULTS } from '../../shared/defaults.ts';

export interface LogRange {
  topic: string;
  partition: number;
  /** First offset to read. */
  from: number;
  /** Offset to stop before. */
  to: number;
}

/**
 * The records of one partition in [from, to) that `keep` keeps, in log order, read with a
 * consumer of a throwaway group; what retention removed is simply not there. Fails when the
 * range is not read in time.
 */
export async function readRange(
  kafka: Kafka,
  range: LogRange,
  keep: (record: SourceRecord) => boolean = () => true,
  timeoutMs = 120_000,
): Promise<SourceRecord[]> {
  const { topic, partition } = range;
  const admin = kafka.admin();
  await admin.connect();
  let bounds;
  try {
    // Asked first: kafkajs retries an unknown topic's offsets for many seconds before it says so.
    if (!(await admin.listTopics()).includes(topic)) throw new Error(`There is no topic ${topic}.`);
    bounds = (await admin.fetchTopicOffsets(topic)).find((p) => p.partition === partition);
  } finally {
    await admin.disconnect();
  }
  if (!bounds) throw new Error(`${topic} has no partition ${partition}`);
  const from = Math.max(range.from, Number(bounds.low));
  const to = Math.min(range.to, Number(bounds.high));
  if (from >= to) return [];

  const groupId = `${DEFAULTS.DLQ_READER_GROUP_PREFIX}${process.pid}-${Date.now().toString(36)}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  await consumer.connect();
  const records: SourceRecord[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`could not read ${topic}/${partition} from ${from} to ${to} within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      consumer
        .subscribe({ topics: [topic] })
        .then(() =>
          consumer.run({
            eachBatch: ({ batch }) => {
              if (batch.partition !== partition) return Promise.resolve();
              for (const m of batch.messages) {
                const offset = Number(m.offset);
                if (offset < from || offset >= to) continue;
                const record = {
                  topic,
                  partition,
                  offset,
                  key: m.key ?? null,
                  value: m.value,
                  headers: m.headers ?? {},
                  timestamp: m.timestamp,
                };
                if (keep(record)) records.push(record);
              }
              // Done at the range's end, or at the log's: the last offsets may be transaction markers, which no batch delivers.
              const last = Number(batch.lastOffset());
              if (last >= to - 1 || last >= Number(batch.highWatermark) - 1) {
                clearTimeout(timer);
                resolve();
              }
              return Promise.resolve();
            },
          }),
        )
        .then(() => consumer.seek({ topic, partition, offset: String(from) }))
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteGroups([groupId]).catch(() => undefined);
    await cleanup.disconnect();
  }
  return records;
}

/** The record at one position of the log; undefined when the log does not (or no longer) hold it. */
export async function readRecord(
  kafka: Kafka,
  position: { topic: string; partition: number; offset: number },
): Promise<SourceRecord | undefined> {
  const [record] = await readRange(kafka, {
    topic: position.topic,
    partition: position.partition,
    from: position.offset,
    to: position.offset + 1,
  });
  return record?.offset === position.offset ? record : undefined;
}

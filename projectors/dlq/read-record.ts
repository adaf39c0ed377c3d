import type { Kafka } from 'kafkajs';
import type { SourceRecord } from '../pipeline/dead-letters.ts';

/**
 * The record at one position of the log, read with a consumer of a throwaway group; undefined
 * when the log no longer (retention) or not yet holds that offset.
 */
export async function readRecord(kafka: Kafka, position: { topic: string; partition: number; offset: number }, timeoutMs = 15_000): Promise<SourceRecord | undefined> {
  const { topic, partition, offset } = position;
  const admin = kafka.admin();
  await admin.connect();
  const bounds = (await admin.fetchTopicOffsets(topic)).find((p) => p.partition === partition);
  await admin.disconnect();
  if (!bounds || offset < Number(bounds.low) || offset >= Number(bounds.high)) return undefined;

  const groupId = `movie-catalogue-dlq-show-${process.pid}-${Date.now().toString(36)}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    return await new Promise<SourceRecord | undefined>((resolve, reject) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      consumer
        .subscribe({ topics: [topic] })
        .then(() =>
          consumer.run({
            eachBatch: ({ batch }) => {
              if (batch.partition !== partition) return Promise.resolve();
              const found = batch.messages.find((m) => Number(m.offset) === offset);
              if (!found && Number(batch.lastOffset()) < offset) return Promise.resolve();
              clearTimeout(timer);
              resolve(
                found && {
                  topic,
                  partition,
                  offset,
                  key: found.key ?? null,
                  value: found.value,
                  headers: found.headers ?? {},
                  timestamp: found.timestamp,
                },
              );
              return Promise.resolve();
            },
          }),
        )
        .then(() => consumer.seek({ topic, partition, offset: String(offset) }))
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteGroups([groupId]).catch(() => undefined);
    await cleanup.disconnect();
  }
}

import type { Kafka, KafkaMessage } from 'kafkajs';
import pg from 'pg';
import { EventDecoder } from '../shared/kafka/decoder.ts';
import type { RatingEvent } from '../shared/events/types.ts';
import type { Logger } from '../shared/logger.ts';
import type { Cleanups } from './cleanups.ts';
import { createTestDatabase } from '../harness/services.ts';
import type { RegistryConnection } from '../shared/registry.ts';

export interface NaiveRunOptions {
  kafka: Kafka;
  registry: RegistryConnection;
  topic: string;
  sample: number;
  groupId: string;
  logger: Logger;
  cleanups: Cleanups;
}

export interface NaiveRun {
  seconds: number;
  applied: number;
}

/**
 * The projector as it is usually first written: kafkajs eachMessage with its defaults, and one
 * Postgres transaction per event. Timed from run() until `sample` events are committed.
 */
export async function runNaiveProjector(options: NaiveRunOptions): Promise<NaiveRun> {
  const { cleanups } = options;
  const database = await createTestDatabase('bench-naive');
  const dropDatabase = cleanups.add(`drop database ${database.name}`, () => database.drop());
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  const endClient = cleanups.add('close the naive connection', () => client.end());
  const consumer = options.kafka.consumer({ groupId: options.groupId, allowAutoTopicCreation: false });
  const disconnect = cleanups.add('stop the naive consumer', () => consumer.disconnect());
  const decoder = new EventDecoder(options.registry);

  let applied = 0;
  let finish: () => void = () => undefined;
  let fail: (err: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });

  await consumer.connect();
  await consumer.subscribe({ topic: options.topic, fromBeginning: true });
  const started = performance.now();
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      // Past the sample the consumer idles until it is stopped; nothing more is timed.
      if (applied >= options.sample) return;
      try {
        await applyOne(client, topic, partition, message, decoder);
      } catch (err) {
        fail(err as Error);
        throw err;
      }
      applied += 1;
      if (applied === options.sample) finish();
    },
  });
  await done;
  const seconds = (performance.now() - started) / 1000;
  await disconnect();
  await endClient();
  await dropDatabase();
  return { seconds, applied };
}

async function applyOne(
  client: pg.Client,
  topic: string,
  partition: number,
  message: KafkaMessage,
  decoder: EventDecoder,
): Promise<void> {
  const result = await decoder.decode(message);
  if (!result.ok) throw new Error(`offset ${message.offset} does not decode: ${result.poison.message}`);
  if (result.event.type === 'MovieMetadataSet') return;
  await client.query('BEGIN');
  try {
    await applyRating(client, result.event);
    await client.query(
      `INSERT INTO ratings.projection_offsets (topic, partition, next_offset) VALUES ($1, $2, $3)
       ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()`,
      [topic, partition, Number(message.offset) + 1],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function applyRating(client: pg.Client, event: RatingEvent): Promise<void> {
  const id = [event.recordType, event.recordId, event.userId];
  const { rows } = await client.query<{ value: number }>(
    'SELECT value FROM ratings.ratings WHERE record_type = $1 AND record_id = $2 AND user_id = $3 FOR UPDATE',
    id,
  );
  const previous = rows[0]?.value;
  const next = event.type === 'RatingSubmitted' ? event.value : undefined;
  if (next !== undefined) {
    await client.query(
      `INSERT INTO ratings.ratings (record_type, record_id, user_id, value, updated_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (record_type, record_id, user_id) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`,
      [...id, next, event.envelope.occurredAt],
    );
  } else if (previous !== undefined) {
    await client.query('DELETE FROM ratings.ratings WHERE record_type = $1 AND record_id = $2 AND user_id = $3', id);
  }
  if (previous === next) return;
  const counts = [1, 2, 3, 4, 5].map((v) => (v === next ? 1 : 0) - (v === previous ? 1 : 0));
  await client.query(
    `INSERT INTO ratings.rating_aggregates AS a (record_type, record_id, count, sum, count_1, count_2, count_3, count_4, count_5)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (record_type, record_id) DO UPDATE SET
       count = a.count + EXCLUDED.count, sum = a.sum + EXCLUDED.sum,
       count_1 = a.count_1 + EXCLUDED.count_1, count_2 = a.count_2 + EXCLUDED.count_2, count_3 = a.count_3 + EXCLUDED.count_3,
       count_4 = a.count_4 + EXCLUDED.count_4, count_5 = a.count_5 + EXCLUDED.count_5`,
    [
      event.recordType,
      event.recordId,
      (next === undefined ? 0 : 1) - (previous === undefined ? 0 : 1),
      (next ?? 0) - (previous ?? 0),
      ...counts,
    ],
  );
}

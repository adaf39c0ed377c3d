import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import type { IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import pg from 'pg';
import { createPool, type Pool } from '../../shared/db/pool.ts';
import { EventCodec } from '../../shared/kafka/codec.ts';
import { createEventPublisher } from '../../shared/kafka/publisher.ts';
import type { CatalogueEvent, MovieMetadataSet, RatingDeleted, RatingSubmitted } from '../../shared/events/types.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { eventually } from '../../harness/eventually.ts';
import {
  createTestDatabase,
  createTestTopics,
  quietLogger,
  services,
  startTestProjector,
  uniqueName,
  type TestProjector,
} from '../../harness/services.ts';
import { registryClient } from '../../shared/registry.ts';

/**
 * Fresh topics, a publisher to them, a plain producer for records no service would write, and
 * projectors over fresh databases: everything a projector test needs, removed when it ends.
 */
export async function projectorFixture(t: TestContext) {
  const logger = quietLogger();
  const kafka = createKafka('test', services.kafka, logger);
  const registry = registryClient(services.registry);
  const topics = await createTestTopics();
  const codec = await EventCodec.forWriting(registry, topics);
  const events = createEventPublisher(kafka, codec, logger);
  // One event at a time, as the tests write them.
  const publisher = { publish: async (event: CatalogueEvent) => (await events.publish([event]))[0]! };
  const raw: Producer = kafka.producer();
  await Promise.all([events.connect(), raw.connect()]);
  const cleanups: Array<() => Promise<unknown>> = [
    () => topics.remove(),
    () => events.disconnect(),
    () => raw.disconnect(),
  ];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  return {
    kafka,
    topics,
    codec,
    publisher,
    /** Writes a record as is, the way any Kafka client could. */
    async produceRaw(
      topic: string,
      record: { key: string | null; value: Buffer | null; headers?: IHeaders; partition?: number },
    ) {
      await raw.send({ topic, acks: -1, messages: [record] });
    },
    /** Writes an event encoded with schema `version` of its type. */
    async publishVersion(event: CatalogueEvent, version: number) {
      const encoded = codec.encode(event, version);
      await raw.send({
        topic: encoded.topic,
        acks: -1,
        messages: [{ key: encoded.key, value: encoded.value, headers: encoded.headers }],
      });
    },
    /** Writes records as they are to one partition, in one request. */
    async produceToPartition(
      topic: string,
      partition: number,
      records: ReadonlyArray<{ key: string; value: Buffer; headers?: IHeaders }>,
    ) {
      await raw.send({ topic, acks: -1, messages: records.map((r) => ({ ...r, partition })) });
    },
    /** A migrated database and a pool on it. */
    async database(poolSize = 4): Promise<Pool> {
      const db = await createTestDatabase();
      const pool = createPool(db.url, poolSize, logger);
      cleanups.push(
        () => db.drop(),
        () => pool.end(),
      );
      return pool;
    },
    async runner(pool: Pool, groupId?: string): Promise<TestProjector> {
      const runner = await startTestProjector({ kafka, pool, topics, ...(groupId ? { groupId } : {}) });
      cleanups.push(() => runner.stop());
      return runner;
    },
    /** Reads `count` records of a topic from the beginning, or fails at the deadline. */
    readTopic: (topic: string, count: number) => readTopic(kafka, topic, count),
  };
}

export async function readTopic(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs = 20_000,
): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100 });
  const messages: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: ({ message }) => Promise.resolve(void messages.push(message)) });
    await eventually(
      () =>
        messages.length < count
          ? Promise.reject(new Error(`${topic}: ${messages.length} of ${count} records so far`))
          : Promise.resolve(),
      timeoutMs,
    );
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

const envelope = (principal: string) => ({
  eventId: randomUUID(),
  occurredAt: new Date(),
  principal,
  correlationId: randomUUID(),
});

export const rating = (userId: string, recordId: string, value: number): RatingSubmitted => ({
  type: 'RatingSubmitted',
  envelope: envelope(userId),
  recordType: 'movie',
  recordId,
  userId,
  value,
  providerId: null,
});

export const ratingDeleted = (userId: string, recordId: string): RatingDeleted => ({
  type: 'RatingDeleted',
  envelope: envelope(userId),
  recordType: 'movie',
  recordId,
  userId,
});

export const metadataSet = (
  movieId: string,
  title: string,
  expectedVersion: number | null = null,
): MovieMetadataSet => ({
  type: 'MovieMetadataSet',
  envelope: envelope('admin'),
  movieId,
  title,
  description: '',
  director: 'Someone',
  year: null,
  actors: [],
  expectedVersion,
});

export async function aggregates(pool: Pool) {
  const { rows } = await pool.query<Record<string, unknown>>(
    'SELECT record_id, count, sum, count_1, count_5 FROM ratings.rating_aggregates ORDER BY record_id',
  );
  return rows;
}

/** Outcomes of one projection's schema, in log order, as {eventId: status[: reason]}. */
export async function outcomes(pool: Pool, schema: 'ratings' | 'movie_details') {
  const { rows } = await pool.query<{ event_id: string; status: string; reason: string | null }>(
    `SELECT event_id::text, status, reason FROM ${schema}.event_outcomes ORDER BY partition, "offset"`,
  );
  return Object.fromEntries(rows.map((r) => [r.event_id, r.reason === null ? r.status : `${r.status}: ${r.reason}`]));
}

/**
 * Makes every write of the aggregate of `recordId` fail transiently (SQLSTATE 40001), so that
 * only its partition stalls; the returned function lifts the failure.
 */
export async function stallAggregate(pool: Pool, recordId: string): Promise<() => Promise<void>> {
  await pool.query(`CREATE FUNCTION ratings.stall() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.record_id = ${pg.escapeLiteral(recordId)} THEN RAISE EXCEPTION 'stalled for the test' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$`);
  await pool.query(
    'CREATE TRIGGER stall BEFORE INSERT OR UPDATE ON ratings.rating_aggregates FOR EACH ROW EXECUTE FUNCTION ratings.stall()',
  );
  return async () => {
    await pool.query('DROP TRIGGER stall ON ratings.rating_aggregates');
  };
}

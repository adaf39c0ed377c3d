import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import type { ProjectorRunner } from '../../projectors/runner.ts';
import { createPool, type Pool } from '../../shared/db/pool.ts';
import { EventCodec } from '../../shared/events/codec.ts';
import { createEventPublisher } from '../../shared/events/publisher.ts';
import type { MovieMetadataSet, RatingSubmitted } from '../../shared/events/types.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { createTestDatabase, createTestTopics, quietLogger, services, startTestProjector } from './services.ts';

/**
 * Fresh topics, a publisher to them, and projector runners over fresh databases: everything a
 * projector test needs, removed when the test ends.
 */
export async function projectorFixture(t: TestContext) {
  const logger = quietLogger();
  const kafka = createKafka('test', services.brokers, logger);
  const registry = EventCodec.connect(services.registryUrl);
  const topics = await createTestTopics();
  const publisher = createEventPublisher(kafka, await EventCodec.forWriting(registry, topics));
  await publisher.connect();
  const cleanups: Array<() => Promise<unknown>> = [() => topics.remove(), () => publisher.disconnect()];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  return {
    kafka,
    topics,
    publisher,
    /** A migrated database and a pool on it. */
    async database(): Promise<Pool> {
      const db = await createTestDatabase();
      const pool = createPool(db.url, 4, logger);
      cleanups.push(() => db.drop(), () => pool.end());
      return pool;
    },
    async runner(pool: Pool, groupId?: string): Promise<ProjectorRunner> {
      const runner = await startTestProjector({ kafka, pool, topics, ...(groupId ? { groupId } : {}) });
      cleanups.push(() => runner.stop());
      return runner;
    },
  };
}

export const rating = (userId: string, recordId: string, value: number): RatingSubmitted => ({
  type: 'RatingSubmitted',
  envelope: { eventId: randomUUID(), occurredAt: new Date(), principal: userId, correlationId: randomUUID() },
  recordType: 'movie',
  recordId,
  userId,
  value,
});

export const metadataSet = (movieId: string, title: string): MovieMetadataSet => ({
  type: 'MovieMetadataSet',
  envelope: { eventId: randomUUID(), occurredAt: new Date(), principal: 'admin', correlationId: randomUUID() },
  movieId,
  title,
  description: '',
  director: 'Someone',
  year: null,
  actors: [],
});

export async function aggregates(pool: Pool) {
  const { rows } = await pool.query<Record<string, unknown>>(
    'SELECT record_id, count, sum, count_1, count_5 FROM rating_aggregates ORDER BY record_id',
  );
  return rows;
}

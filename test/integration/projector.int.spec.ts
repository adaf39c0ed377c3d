import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { catalogueProjections } from '../../projectors/projections.ts';
import { applyBatch } from '../../projectors/apply-batch.ts';
import { createProjectorRunner, type ProjectorRunner } from '../../projectors/runner.ts';
import { createPool, type Pool } from '../../shared/db/pool.ts';
import { EventCodec } from '../../shared/events/codec.ts';
import { createEventPublisher, type EventPublisher } from '../../shared/events/publisher.ts';
import type { RatingSubmitted } from '../../shared/events/types.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { eventually } from '../support/eventually.ts';
import { createTestDatabase, createTestTopics, quietLogger, services, uniqueName, type TestDatabase, type TestTopics } from '../support/services.ts';

/**
 * The projector against the real broker, registry and Postgres: offsets live with the read
 * model, so a partition delivered again (here: to a new consumer group that Kafka has no
 * committed offsets for, as after a crash between the Postgres commit and the Kafka commit)
 * changes nothing.
 */
describe('projector', () => {
  const logger = quietLogger();
  const kafka = createKafka('test', services.brokers, logger);
  const registry = EventCodec.connect(services.registryUrl);
  let db: TestDatabase;
  let topics: TestTopics;
  let pool: Pool;
  let publisher: EventPublisher;
  const runners: ProjectorRunner[] = [];

  before(async () => {
    [db, topics] = await Promise.all([createTestDatabase(), createTestTopics()]);
    pool = createPool(db.url, 4, logger);
    publisher = createEventPublisher(kafka, await EventCodec.forWriting(registry, topics));
    await publisher.connect();
  });
  after(async () => {
    await Promise.all(runners.map((r) => r.stop()));
    await publisher.disconnect();
    await pool.end();
    await Promise.all([db.drop(), topics.remove()]);
  });

  async function startRunner(groupId: string) {
    const runner = createProjectorRunner({
      kafka,
      groupId,
      pool,
      codec: EventCodec.forReading(registry),
      projections: catalogueProjections(topics),
      logger,
      metrics: createMetrics('projectors'),
    });
    runners.push(runner);
    await runner.start();
    return runner;
  }

  const rating = (userId: string, recordId: string, value: number): RatingSubmitted => ({
    type: 'RatingSubmitted',
    envelope: { eventId: randomUUID(), occurredAt: new Date(), principal: userId, correlationId: randomUUID() },
    recordType: 'movie',
    recordId,
    userId,
    value,
  });

  const aggregates = async () =>
    (await pool.query<Record<string, unknown>>('SELECT record_id, count, sum, count_1, count_5 FROM rating_aggregates ORDER BY record_id')).rows;

  it('applies each event once; a new consumer group resumes from the offsets in Postgres', async () => {
    const first = await startRunner(uniqueName('group-a'));
    const movies = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
    for (const [i, movie] of movies.entries()) {
      await publisher.publish(rating('alice', movie, 5));
      await publisher.publish(rating('bob', movie, 1 + (i % 5)));
    }
    await publisher.publish(rating('alice', 'm1', 1)); // replaces alice's 5

    const expected = [
      { record_id: 'm1', count: 2, sum: 2, count_1: 2, count_5: 0 },
      { record_id: 'm2', count: 2, sum: 7, count_1: 0, count_5: 1 },
      { record_id: 'm3', count: 2, sum: 8, count_1: 0, count_5: 1 },
      { record_id: 'm4', count: 2, sum: 9, count_1: 0, count_5: 1 },
      { record_id: 'm5', count: 2, sum: 10, count_1: 0, count_5: 2 },
      { record_id: 'm6', count: 2, sum: 6, count_1: 1, count_5: 1 },
    ];
    await eventually(async () => assert.deepEqual(await aggregates(), expected));
    const { rows: offsetsBefore } = await pool.query<{ next_offset: number }>('SELECT next_offset FROM projection_offsets');
    assert.equal(
      offsetsBefore.reduce((total, row) => total + row.next_offset, 0),
      13,
      'the stored offsets account for all 13 events',
    );
    await first.stop();

    // A second consumer group of the same projection resumes from the offsets in Postgres.
    await startRunner(uniqueName('group-b'));
    await publisher.publish(rating('carol', 'm6', 3)); // the one new event
    await eventually(async () =>
      assert.deepEqual(await aggregates(), [...expected.slice(0, 5), { record_id: 'm6', count: 3, sum: 9, count_1: 1, count_5: 1 }]),
    );
    const { rows: ratings } = await pool.query('SELECT count(*)::int AS n FROM ratings');
    assert.deepEqual(ratings, [{ n: 13 }]);
  });

  it('skips a batch delivered again: the stored offset guards the read model', async () => {
    const [projection] = catalogueProjections(topics).filter((p) => p.topic === topics.movieRatings);
    assert.ok(projection);
    const batch = [
      { offset: 100, event: rating('dave', 'm9', 2) },
      { offset: 101, event: rating('erin', 'm9', 4) },
    ];
    const partition = 99; // not a real partition of the topic: no consumer touches this offset row
    assert.equal(await applyBatch(pool, projection, partition, batch), 2);
    assert.equal(await applyBatch(pool, projection, partition, batch), 0);
    assert.equal(await applyBatch(pool, projection, partition, [batch[1]!, { offset: 102, event: rating('dave', 'm9', 5) }]), 1);
    const { rows } = await pool.query("SELECT count, sum FROM rating_aggregates WHERE record_id = 'm9'");
    assert.deepEqual(rows, [{ count: 2, sum: 9 }]);
    const { rows: offsets } = await pool.query('SELECT next_offset FROM projection_offsets WHERE partition = $1', [partition]);
    assert.deepEqual(offsets, [{ next_offset: 103 }]);
  });
});

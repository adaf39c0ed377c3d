import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyBatch } from '../../projectors/apply-batch.ts';
import { catalogueProjections } from '../../projectors/projections.ts';
import type { EventPublisher } from '../../shared/events/publisher.ts';
import { eventually } from '../support/eventually.ts';
import { aggregates, metadataSet, projectorFixture, rating } from '../support/projector-fixture.ts';
import { uniqueName } from '../support/services.ts';

/**
 * The projector against the real broker, registry and Postgres. Offsets live with the read
 * model, so whatever Kafka delivers again, and wherever a consumer group starts, every event is
 * applied exactly once.
 */

/** Twelve ratings over six movies (spread over the partitions) and one re-rating. */
async function publishRatings(publisher: EventPublisher) {
  for (const [i, movie] of ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'].entries()) {
    await publisher.publish(rating('alice', movie, 5));
    await publisher.publish(rating('bob', movie, 1 + (i % 5)));
  }
  await publisher.publish(rating('alice', 'm1', 1)); // replaces alice's 5
}

const EXPECTED = [
  { record_id: 'm1', count: 2, sum: 2, count_1: 2, count_5: 0 },
  { record_id: 'm2', count: 2, sum: 7, count_1: 0, count_5: 1 },
  { record_id: 'm3', count: 2, sum: 8, count_1: 0, count_5: 1 },
  { record_id: 'm4', count: 2, sum: 9, count_1: 0, count_5: 1 },
  { record_id: 'm5', count: 2, sum: 10, count_1: 0, count_5: 2 },
  { record_id: 'm6', count: 2, sum: 6, count_1: 1, count_5: 1 },
];

describe('projector', () => {
  it('applies each event once; a new consumer group resumes from the offsets in Postgres', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    const first = await f.runner(pool);
    await publishRatings(f.publisher);
    await eventually(async () => assert.deepEqual(await aggregates(pool), EXPECTED));
    const { rows: offsets } = await pool.query<{ total: number }>('SELECT sum(next_offset)::int AS total FROM projection_offsets');
    assert.deepEqual(offsets, [{ total: 13 }], 'the stored offsets account for all 13 events');
    await first.stop();

    await f.runner(pool); // another group: Kafka has no offsets for it, Postgres has
    await f.publisher.publish(rating('carol', 'm6', 3));
    await eventually(async () =>
      assert.deepEqual(await aggregates(pool), [...EXPECTED.slice(0, 5), { record_id: 'm6', count: 3, sum: 9, count_1: 1, count_5: 1 }]),
    );
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ratings');
    assert.deepEqual(rows, [{ n: 13 }]);
  });

  it('rebuilds an empty read model from offset 0 even when Kafka holds the group at the end', async (t) => {
    const f = await projectorFixture(t);
    const groupId = uniqueName('group');
    const original = await f.database();
    const runner = await f.runner(original, groupId);
    await publishRatings(f.publisher);
    await eventually(async () => assert.deepEqual(await aggregates(original), EXPECTED));
    await runner.stop();

    const fresh = await f.database();
    await f.runner(fresh, groupId); // same group: its committed Kafka offsets point past every event
    await eventually(async () => assert.deepEqual(await aggregates(fresh), EXPECTED));
  });

  it('retries a batch while the database fails, reports not ready meanwhile, then applies it once', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    const runner = await f.runner(pool);
    await f.publisher.publish(rating('alice', 'm1', 4));
    await eventually(async () => assert.deepEqual(await aggregates(pool), [{ record_id: 'm1', count: 1, sum: 4, count_1: 0, count_5: 0 }]));

    await pool.query('ALTER TABLE ratings RENAME TO ratings_away');
    await f.publisher.publish(rating('bob', 'm1', 2));
    const problem = await eventually(() => {
      const current = runner.problem();
      assert.ok(current);
      return Promise.resolve(current);
    });
    assert.match(problem, /relation "ratings" does not exist/);

    await pool.query('ALTER TABLE ratings_away RENAME TO ratings');
    await eventually(async () => assert.deepEqual(await aggregates(pool), [{ record_id: 'm1', count: 2, sum: 6, count_1: 0, count_5: 0 }]), 20_000);
    assert.equal(runner.problem(), undefined);
  });

  it('skips a batch delivered again and refuses one that would skip events', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    const [ratings, movies] = [
      catalogueProjections(f.topics).find((p) => p.topic === f.topics.movieRatings),
      catalogueProjections(f.topics).find((p) => p.topic === f.topics.movieMetadata),
    ];
    assert.ok(ratings && movies);

    const batch = [
      { offset: 0, event: rating('dave', 'm9', 2) },
      { offset: 1, event: rating('erin', 'm9', 4) },
    ];
    assert.equal(await applyBatch(pool, ratings, 0, batch), 2);
    assert.equal(await applyBatch(pool, ratings, 0, batch), 0);
    assert.equal(await applyBatch(pool, ratings, 0, [batch[1]!, { offset: 2, event: rating('dave', 'm9', 5) }]), 1);
    await assert.rejects(applyBatch(pool, ratings, 0, [{ offset: 9, event: rating('frank', 'm9', 1) }]), { name: 'OffsetGapError', expected: 3 });
    assert.deepEqual(await aggregates(pool), [{ record_id: 'm9', count: 2, sum: 9, count_1: 0, count_5: 1 }]);

    // The version is the one value that is not idempotent by nature: a redelivery must not bump it.
    const sets = [
      { offset: 0, event: metadataSet('m9', 'First') },
      { offset: 1, event: metadataSet('m9', 'Second') },
    ];
    assert.equal(await applyBatch(pool, movies, 0, sets), 2);
    assert.equal(await applyBatch(pool, movies, 0, sets), 0);
    const { rows } = await pool.query('SELECT title, version FROM movies');
    assert.deepEqual(rows, [{ title: 'Second', version: 2 }]);
  });
});

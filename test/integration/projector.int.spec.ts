import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { claimPartitions, recordEvents } from '../../projectors/pipeline/bookkeeping.ts';
import { createDeadLetterWriter } from '../../projectors/pipeline/dead-letters.ts';
import { createSink } from '../../projectors/pipeline/sink.ts';
import { catalogueProjections } from '../../projectors/projections.ts';
import { EventDecoder } from '../../shared/kafka/decoder.ts';
import { parseProgressAnnouncement, PROGRESS_CHANNEL } from '../../shared/read-models.ts';
import { withTransaction } from '../../shared/db/pool.ts';
import { eventually } from '../../harness/eventually.ts';
import {
  aggregates,
  metadataSet,
  outcomes,
  projectorFixture,
  rating,
  ratingDeleted,
} from '../support/projector-fixture.ts';
import { services, uniqueName } from '../../harness/services.ts';

/**
 * The projector against the real broker, registry and Postgres. Offsets live with the read
 * model, so whatever Kafka delivers again, and wherever a consumer group starts, every event is
 * applied exactly once.
 */

/** Twelve ratings over six movies (spread over the partitions) and one re-rating. */
async function publishRatings(publisher: Awaited<ReturnType<typeof projectorFixture>>['publisher']) {
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
    const { rows: offsets } = await pool.query<{ total: number }>(
      'SELECT sum(next_offset)::int AS total FROM ratings.projection_offsets',
    );
    assert.deepEqual(offsets, [{ total: 13 }], 'the stored offsets account for all 13 events');
    assert.equal(Object.values(await outcomes(pool, 'ratings')).filter((s) => s === 'applied').length, 13);
    await first.stop();

    await f.runner(pool); // another group: Kafka has no offsets for it, Postgres has
    await f.publisher.publish(rating('carol', 'm6', 3));
    await eventually(async () =>
      assert.deepEqual(await aggregates(pool), [
        ...EXPECTED.slice(0, 5),
        { record_id: 'm6', count: 3, sum: 9, count_1: 1, count_5: 1 },
      ]),
    );
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ratings.ratings');
    assert.deepEqual(rows, [{ n: 13 }]);
  });

  it('announces the offsets it stored on PROGRESS_CHANNEL as each transaction commits', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    const listener = await pool.connect();
    try {
      const heard: Array<[string, string | undefined]> = [];
      listener.on('notification', (n) => heard.push([n.channel, n.payload]));
      await listener.query(`LISTEN ${PROGRESS_CHANNEL}`);
      await f.runner(pool);
      const position = await f.publisher.publish(rating('alice', 'm1', 4));
      await eventually(() => Promise.resolve(assert.equal(heard.length, 1)));
      const [[channel, payload]] = heard as [[string, string]];
      assert.equal(channel, PROGRESS_CHANNEL);
      const {
        rows: [offsetsTable],
      } = await pool.query<{ oid: string }>(`SELECT 'ratings.projection_offsets'::regclass::oid::text AS oid`);
      assert.deepEqual(parseProgressAnnouncement(payload), {
        schema: 'ratings',
        table: offsetsTable!.oid,
        topic: f.topics.movieRatings,
        offsets: [[position.partition, 1]],
      });
      // Sent on commit, not before: whoever hears it finds the offset moved.
      const { rows } = await pool.query<{ total: number }>(
        'SELECT sum(next_offset)::int AS total FROM ratings.projection_offsets',
      );
      assert.deepEqual(rows, [{ total: 1 }]);
    } finally {
      listener.release();
    }
  });

  it('announces without offsets a move too large for one notification, rather than failing its transaction', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    const listener = await pool.connect();
    try {
      const heard: Array<string | undefined> = [];
      listener.on('notification', (n) => heard.push(n.payload));
      await listener.query(`LISTEN ${PROGRESS_CHANNEL}`);
      const partitions = Array.from({ length: 1000 }, (_, i) => i);
      await withTransaction(pool, async (client) => {
        const target = { client, schema: 'ratings' };
        await claimPartitions(target, 'wide-topic', partitions);
        await recordEvents(
          target,
          'wide-topic',
          partitions.map((partition) => ({ partition, nextOffset: 1_000_000_000 })),
          [],
        );
      });
      await eventually(() => Promise.resolve(assert.deepEqual(heard, [''])));
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ratings.projection_offsets WHERE topic = 'wide-topic' AND next_offset = 1000000000`,
      );
      assert.deepEqual(rows, [{ n: 1000 }]);
    } finally {
      listener.release();
    }
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

  it('copies the stored offsets to Kafka for lag tools while it runs, and all of them when it stops', async (t) => {
    const f = await projectorFixture(t);
    const groupId = uniqueName('group');
    const pool = await f.database();
    const runner = await f.runner(pool, groupId);
    const admin = f.kafka.admin();
    await admin.connect();
    t.after(() => admin.disconnect());
    const committed = async () => {
      const [topic] = await admin.fetchOffsets({ groupId, topics: [f.topics.movieRatings] });
      return topic!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    };
    await publishRatings(f.publisher);
    await eventually(async () => assert.equal(await committed(), 13));

    await f.publisher.publish(rating('carol', 'm6', 3));
    await eventually(async () => assert.equal((await aggregates(pool)).find((a) => a.record_id === 'm6')?.count, 3));
    await runner.stop(); // well within the interval between copies: stopping copies what is left
    assert.equal(await committed(), 14);
  });

  it('removes a deleted rating from the aggregate', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    await f.runner(pool);
    await f.publisher.publish(rating('alice', 'm1', 5));
    await f.publisher.publish(rating('bob', 'm1', 1));
    await f.publisher.publish(ratingDeleted('alice', 'm1'));
    await f.publisher.publish(ratingDeleted('nobody', 'm1'));
    await eventually(async () =>
      assert.deepEqual(await aggregates(pool), [{ record_id: 'm1', count: 1, sum: 1, count_1: 1, count_5: 0 }]),
    );
    const { rows } = await pool.query('SELECT user_id FROM ratings.ratings');
    assert.deepEqual(rows, [{ user_id: 'bob' }]);
  });

  it('applies an event published twice at two offsets once', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    await f.runner(pool);
    const set = metadataSet('m1', 'Once');
    const older = rating('alice', 'm1', 2);
    await f.publisher.publish(set);
    await f.publisher.publish(older);
    await f.publisher.publish(rating('alice', 'm1', 5));
    await f.publisher.publish(set); // a producer retry, a replayed outbox...
    await f.publisher.publish(older); // ... must neither bump the version nor overwrite the newer 5
    await f.publisher.publish(metadataSet('m1', 'Twice'));
    await eventually(async () => {
      const { rows } = await pool.query('SELECT title, version FROM movie_details.movies');
      assert.deepEqual(rows, [{ title: 'Twice', version: 2 }]);
    });
    await eventually(async () =>
      assert.deepEqual(await aggregates(pool), [{ record_id: 'm1', count: 1, sum: 5, count_1: 0, count_5: 1 }]),
    );
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ratings.event_outcomes');
    assert.deepEqual(rows, [{ n: 2 }]);
  });

  it('rejects a metadata change whose expected version is stale, and says so in its outcome', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    await f.runner(pool);
    const first = metadataSet('m1', 'First', 0);
    const second = metadataSet('m1', 'Second', 1);
    const stale = metadataSet('m1', 'Stale', 1);
    for (const event of [first, second, stale]) await f.publisher.publish(event);
    await eventually(async () =>
      assert.deepEqual(await outcomes(pool, 'movie_details'), {
        [first.envelope.eventId]: 'applied',
        [second.envelope.eventId]: 'applied',
        [stale.envelope.eventId]: 'rejected: version_conflict',
      }),
    );
    const { rows } = await pool.query('SELECT title, version FROM movie_details.movies');
    assert.deepEqual(rows, [{ title: 'Second', version: 2 }]);
  });

  it('reads v1 and v2 events of one type from one topic, each with the version that wrote it', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    await f.runner(pool);
    await f.publishVersion(rating('alice', 'm1', 4), 1);
    await f.publishVersion({ ...rating('bob', 'm1', 2), providerId: 'acme' }, 2);
    await f.publishVersion(metadataSet('m1', 'Old writer'), 1);
    await f.publishVersion(metadataSet('m1', 'New writer', 1), 2);
    await eventually(async () =>
      assert.deepEqual(await aggregates(pool), [{ record_id: 'm1', count: 2, sum: 6, count_1: 0, count_5: 0 }]),
    );
    await eventually(async () => {
      const { rows } = await pool.query('SELECT title, version FROM movie_details.movies');
      assert.deepEqual(rows, [{ title: 'New writer', version: 2 }]);
    });
  });

  it('starts a small group only when no other is being applied: it waits, and goes with the next group', async (t) => {
    const f = await projectorFixture(t);
    // Room for the projector's three groups at once and the test's lock.
    const pool = await f.database(8);
    const runner = await f.runner(pool);
    const topic = f.topics.movieRatings;
    const send = (partition: number, events: Array<ReturnType<typeof rating>>) =>
      f.produceToPartition(
        topic,
        partition,
        events.map((e) => encodedRecord(f, e)),
      );
    const counts = async () =>
      Object.fromEntries((await aggregates(pool)).map((a) => [String(a.record_id), Number(a.count)]));
    const movedBy = async () =>
      (
        await pool.query<{ partition: number; tx: string }>(
          'SELECT partition, xmin::text AS tx FROM ratings.projection_offsets WHERE topic = $1',
          [topic],
        )
      ).rows;
    for (const [partition, movie] of ['a', 'b', 'c'].entries()) await send(partition, [rating('warm', movie, 3)]);
    await eventually(async () => assert.deepEqual(await counts(), { a: 1, b: 1, c: 1 }));

    // A group of partition 0 is being applied as long as the test locks its offset row.
    const lock = await pool.connect();
    // Released before the projector stops, whatever happens: it waits for the group that waits on the lock.
    try {
      await lock.query('BEGIN');
      await lock.query('SELECT 1 FROM ratings.projection_offsets WHERE topic = $1 AND partition = 0 FOR UPDATE', [
        topic,
      ]);
      await send(0, [rating('ann', 'a', 4)]);
      await eventually(async () => {
        const { rows } = await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        assert.equal(rows[0]!.n, 1);
      });
      // Once partition 1's one record is fetched, a large batch of partition 2 comes in a fetch of its own.
      runner.metrics.consumerLag.reset();
      await send(1, [rating('ann', 'b', 4)]);
      await eventually(async () =>
        assert.ok((await runner.metrics.consumerLag.get()).values.some((v) => v.labels.partition === '1')),
      );
      await send(
        2,
        Array.from({ length: 1000 }, (_, i) => rating(`user${i}`, 'c', 5)),
      );

      await eventually(async () => assert.deepEqual(await counts(), { a: 1, b: 2, c: 1001 }));
      const tx = new Map((await movedBy()).map((r) => [r.partition, r.tx]));
      assert.equal(
        tx.get(1),
        tx.get(2),
        "partition 1's record went with partition 2's large group, not in a transaction of its own beside partition 0's",
      );
    } finally {
      await lock.query('ROLLBACK');
      lock.release();
    }
    await eventually(async () => assert.deepEqual(await counts(), { a: 2, b: 2, c: 1001 }));
  });

  it('reads past transaction markers and aborted records without wedging', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    const runner = await f.runner(pool);
    const producer = f.kafka.producer({ transactionalId: uniqueName('tx'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    t.after(() => producer.disconnect());
    const write = async (event: ReturnType<typeof rating>, commit: boolean) => {
      const encoded = f.codec.encode(event);
      const tx = await producer.transaction();
      await tx.send({
        topic: encoded.topic,
        messages: [{ key: encoded.key, value: encoded.value, headers: encoded.headers, partition: 0 }],
      });
      await (commit ? tx.commit() : tx.abort());
    };
    await write(rating('alice', 'm1', 5), true);
    await write(rating('bob', 'm1', 1), true);
    await write(rating('carol', 'm1', 1), false);
    await f.produceRaw(f.topics.movieRatings, { ...encodedRecord(f, rating('dave', 'm1', 3)), partition: 0 });
    await eventually(async () =>
      assert.deepEqual(await aggregates(pool), [{ record_id: 'm1', count: 3, sum: 9, count_1: 1, count_5: 1 }]),
    );
    // Six records: three events, two commit markers, one abort marker; the aborted event is skipped.
    await eventually(async () => {
      const { rows } = await pool.query(
        'SELECT partition, next_offset FROM ratings.projection_offsets WHERE partition = 0',
      );
      assert.deepEqual(rows, [{ partition: 0, next_offset: 7 }]);
    });
    assert.equal(runner.problem(), undefined);
  });
});

/** A sink of the ratings projection on a fresh database and topics, as the projector builds it. */
async function ratingsSink(t: TestContext) {
  const f = await projectorFixture(t);
  const pool = await f.database();
  const projections = catalogueProjections(f.topics).filter((p) => p.topic === f.topics.movieRatings);
  const deadLetters = createDeadLetterWriter(f.kafka, f.topics.deadLetters, 'test');
  await deadLetters.connect();
  t.after(() => deadLetters.disconnect());
  return {
    f,
    pool,
    sink: createSink({ pool, decoder: new EventDecoder(services.registry), deadLetters, projections }),
  };
}

describe('projector sink', () => {
  it('skips a batch delivered again, and refuses a batch that does not continue from the stored offset', async (t) => {
    const { f, pool, sink } = await ratingsSink(t);
    const records = [rating('dave', 'm9', 2), rating('erin', 'm9', 4), rating('dave', 'm9', 5)].map((event, offset) => {
      const { key, value, headers } = f.codec.encode(event);
      return {
        topic: f.topics.movieRatings,
        partition: 0,
        offset,
        key: Buffer.from(key),
        value,
        headers,
        timestamp: '0',
      };
    });
    const batch = (from: number, to: number, continuesFrom?: number) => ({
      topic: f.topics.movieRatings,
      partition: 0,
      fetchedOffset: from,
      nextOffset: to,
      records: records.slice(from, to),
      continuesFrom,
    });

    await sink.process(batch(0, 2));
    await sink.process(batch(0, 2, 2)); // delivered again: nothing applies twice
    await sink.process(batch(1, 3, 2)); // overlapping: only offset 2 is new
    assert.deepEqual(await aggregates(pool), [{ record_id: 'm9', count: 2, sum: 9, count_1: 0, count_5: 1 }]);
    await assert.rejects(sink.process(batch(5, 5)), { name: 'PositionError', expected: 3, fetched: 5 });
    await assert.rejects(sink.process(batch(1, 3)), { name: 'PositionError', expected: 3, fetched: 1 });
    // A reader that stored 2 and read on past a gap, while another member moved the offset to 3.
    await assert.rejects(sink.process(batch(5, 5, 2)), { name: 'PositionError', expected: 3, fetched: 5 });
    const { rows } = await pool.query('SELECT next_offset FROM ratings.projection_offsets');
    assert.deepEqual(rows, [{ next_offset: 3 }]);
  });

  it('applies a group of partitions in one transaction, and a batch of the group that cannot apply alone', async (t) => {
    const { f, pool, sink } = await ratingsSink(t);
    const batchOf = (partition: number, fetchedOffset: number, events: Array<ReturnType<typeof rating>>) => ({
      topic: f.topics.movieRatings,
      partition,
      fetchedOffset,
      nextOffset: fetchedOffset + events.length,
      records: events.map((event, i) => {
        const { key, value, headers } = f.codec.encode(event);
        return {
          topic: f.topics.movieRatings,
          partition,
          offset: fetchedOffset + i,
          key: Buffer.from(key),
          value,
          headers,
          timestamp: '0',
        };
      }),
      continuesFrom: undefined,
    });
    const offsets = async () =>
      (
        await pool.query<{ partition: number; next_offset: number; tx: string }>(
          'SELECT partition, next_offset, xmin::text AS tx FROM ratings.projection_offsets ORDER BY partition',
        )
      ).rows;

    const together = await sink.processGroup([
      batchOf(0, 0, [rating('dave', 'm1', 2)]),
      batchOf(1, 0, [rating('dave', 'm2', 4), rating('erin', 'm2', 5)]),
    ]);
    assert.deepEqual(
      together.results.map((r) => r.ok),
      [true, true],
    );
    assert.equal(together.groupFailure, undefined);
    const [first, second] = await offsets();
    assert.deepEqual([first?.next_offset, second?.next_offset], [1, 2]);
    assert.equal(first?.tx, second?.tx, 'both partitions moved in one transaction');

    // Partition 1 goes on from 2: a batch from 5 is misplaced, and must not hold partition 0 back.
    const apart = await sink.processGroup([
      batchOf(0, 1, [rating('erin', 'm1', 3)]),
      batchOf(1, 5, [rating('frank', 'm2', 1)]),
    ]);
    assert.equal(apart.groupFailure?.name, 'PositionError', 'the group failed together first');
    assert.equal(apart.results[0]?.ok, true);
    assert.equal(!apart.results[1]?.ok && apart.results[1]?.error.name, 'PositionError');
    assert.deepEqual(
      (await offsets()).map((o) => o.next_offset),
      [2, 2],
    );
    assert.deepEqual(await aggregates(pool), [
      { record_id: 'm1', count: 2, sum: 5, count_1: 0, count_5: 0 },
      { record_id: 'm2', count: 2, sum: 9, count_1: 0, count_5: 1 },
    ]);

    // One event written to two partitions (by some other writer): the group applies it once.
    const twice = rating('gina', 'm3', 4);
    const deduplicated = await sink.processGroup([batchOf(2, 0, [twice]), batchOf(3, 0, [twice])]);
    assert.equal(deduplicated.groupFailure, undefined);
    assert.deepEqual(
      deduplicated.results.map((r) => r.ok && r.report.counts.map((c) => c.outcome)),
      [['applied'], ['duplicate']],
    );
    assert.deepEqual(
      (await aggregates(pool)).find((a) => a.record_id === 'm3'),
      { record_id: 'm3', count: 1, sum: 4, count_1: 0, count_5: 0 },
    );
    assert.deepEqual(
      (await offsets()).map((o) => o.next_offset),
      [2, 2, 1, 1],
    );
  });
});

function encodedRecord(f: Awaited<ReturnType<typeof projectorFixture>>, event: ReturnType<typeof rating>) {
  const { key, value, headers } = f.codec.encode(event);
  return { key, value, headers };
}

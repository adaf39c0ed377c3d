import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DLQ_HEADERS } from '../../projectors/pipeline/dead-letters.ts';
import { newEventId } from '../../shared/events/event-id.ts';
import { eventually } from '../../harness/eventually.ts';
import {
  aggregates,
  metadataSet,
  outcomes,
  projectorFixture,
  rating,
  stallAggregate,
} from '../support/projector-fixture.ts';
import { uniqueName, type TestProjector } from '../../harness/services.ts';

/**
 * Everything that can go wrong with a record or a dependency, against the real services: poison
 * goes to the dead-letter topic and parks its key, the rest flows on; a failing dependency pauses
 * only what it touches and nothing transient is ever dead-lettered.
 */

const crashes = async (runner: TestProjector) => (await runner.metrics.consumerCrashes.get()).values[0]?.value ?? 0;
const header = (headers: Record<string, unknown> | undefined, name: string) => headers?.[name]?.toString();

describe('projector faults', () => {
  it('dead-letters each class of poison with its headers, parks its key, and applies everything else', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    const runner = await f.runner(pool);
    const valid = f.codec.encode(rating('alice', 'x', 3));
    const unknownSchema = Buffer.from(valid.value);
    unknownSchema.writeInt32BE(2_000_000_000, 1);
    const poison = {
      'p-not-avro': { value: Buffer.from('not avro at all'), headers: valid.headers, code: 'not_avro' },
      'p-unknown-schema': { value: unknownSchema, headers: valid.headers, code: 'unknown_schema' },
      'p-unknown-type': {
        value: valid.value,
        headers: { ...valid.headers, 'event-type': 'MovieDeleted' },
        code: 'unknown_event_type',
      },
      'p-invalid': { ...f.codec.encode(rating('alice', 'p-invalid', 7)), code: 'invalid_event' },
      'p-wrong-topic': {
        ...f.codec.encode(metadataSet('p-wrong-topic', 'On the ratings topic')),
        code: 'unhandled_event',
      },
    };
    for (const [key, { value, headers }] of Object.entries(poison)) {
      await f.publisher.publish(rating('alice', key, 4)); // applied: before the poison
      await f.produceRaw(f.topics.movieRatings, { key, value, headers });
      await f.publisher.publish(rating('bob', key, 2)); // parked: after the poison, same key
      await f.publisher.publish(rating('bob', `${key}-neighbour`, 5)); // applied: another key
    }
    const nul = metadataSet('m-nul', 'Null\u0000byte');
    await f.publisher.publish(nul);
    const parkedMovie = metadataSet('m-nul', 'After the poison');
    await f.publisher.publish(parkedMovie);
    await f.publisher.publish(metadataSet('m-fine', 'Fine'));

    const letters = await f.readTopic(f.topics.deadLetters.get(f.topics.movieRatings)!, 5);
    for (const [key, expected] of Object.entries(poison)) {
      const letter = letters.find((m) => m.key?.toString() === key);
      assert.ok(
        letter,
        `a dead letter for ${key} in ${JSON.stringify(letters.map((m) => [m.key?.toString(), header(m.headers, DLQ_HEADERS.errorClass)]))}`,
      );
      assert.deepEqual(letter.value, expected.value, 'the original bytes, untouched');
      const h = letter.headers;
      assert.equal(header(h, DLQ_HEADERS.topic), f.topics.movieRatings);
      assert.match(header(h, DLQ_HEADERS.partition) ?? '', /^[0-2]$/);
      assert.match(header(h, DLQ_HEADERS.offset) ?? '', /^\d+$/);
      assert.equal(header(h, DLQ_HEADERS.key), key);
      assert.match(header(h, DLQ_HEADERS.timestamp) ?? '', /^\d{13}$/);
      assert.equal(header(h, DLQ_HEADERS.errorClass), expected.code);
      assert.ok((header(h, DLQ_HEADERS.errorMessage) ?? '').length > 0);
      assert.equal(header(h, DLQ_HEADERS.projection), 'ratings');
      assert.equal(header(h, DLQ_HEADERS.attempt), '1');
      assert.ok(!Number.isNaN(Date.parse(header(h, DLQ_HEADERS.failedAt) ?? '')));
      assert.ok(header(h, DLQ_HEADERS.consumerGroup));
    }
    const [nulLetter] = await f.readTopic(f.topics.deadLetters.get(f.topics.movieMetadata)!, 1);
    assert.equal(header(nulLetter?.headers, DLQ_HEADERS.errorClass), 'invalid_event');
    assert.equal(header(nulLetter?.headers, DLQ_HEADERS.projection), 'movie-details');

    const keys = Object.keys(poison);
    await eventually(async () =>
      assert.deepEqual(
        (await aggregates(pool)).map((a) => [a.record_id, a.count, a.sum]).sort(),
        keys
          .flatMap((key) => [
            [key, 1, 4],
            [`${key}-neighbour`, 1, 5],
          ])
          .sort(),
      ),
    );
    await eventually(async () => {
      const { rows } = await pool.query('SELECT movie_id, title FROM movie_details.movies');
      assert.deepEqual(rows, [{ movie_id: 'm-fine', title: 'Fine' }]);
    });
    const movieOutcomes = await outcomes(pool, 'movie_details');
    assert.match(
      movieOutcomes[nul.envelope.eventId] ?? '',
      /^dead_lettered: invalid_event: MovieMetadataSet: title contains a NUL character/,
    );
    assert.match(movieOutcomes[parkedMovie.envelope.eventId] ?? '', /^parked/);

    const { rows: parked } = await pool.query<{ key: string }>(
      "SELECT convert_from(key, 'UTF8') AS key FROM ratings.parked_keys ORDER BY 1",
    );
    assert.deepEqual(
      parked.map((r) => r.key),
      [...keys].sort(),
    );
    const { rows: counted } = await pool.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM ratings.event_outcomes GROUP BY 1 ORDER BY 1',
    );
    assert.deepEqual(counted, [
      { status: 'applied', n: 10 },
      { status: 'dead_lettered', n: 2 }, // the poison that decoded far enough to have an id
      { status: 'parked', n: 5 },
    ]);
    const { rows: dead } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ratings.dead_letters');
    assert.deepEqual(dead, [{ n: 5 }]);
    assert.equal(await crashes(runner), 0, 'poison never crashes the consumer');
    assert.equal(runner.problem(), undefined);
  });

  it('parks a key per partition, as Kafka orders a key only within one', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    await f.runner(pool);
    const on = async (partition: number, value: number) => {
      const event = rating(`user-${partition}`, 'k', value);
      const { key, value: bytes, headers } = f.codec.encode(event);
      await f.produceRaw(f.topics.movieRatings, { key, value: bytes, headers, partition });
      return event.envelope.eventId;
    };
    // Other partitioners (kcat's crc32, say) put one key on several partitions.
    await f.produceRaw(f.topics.movieRatings, { key: 'k', value: Buffer.from('garbage'), partition: 0 });
    await f.produceRaw(f.topics.movieRatings, { key: 'k', value: Buffer.from('garbage'), partition: 1 });
    const behind = [await on(0, 1), await on(1, 2)];
    const free = await on(2, 5);
    await eventually(async () => {
      const all = await outcomes(pool, 'ratings');
      assert.deepEqual(
        [...behind, free].map((id) => all[id]?.split(':')[0]),
        ['parked', 'parked', 'applied'],
      );
    });
    const { rows } = await pool.query<{ partition: number }>(
      "SELECT partition FROM ratings.parked_keys WHERE key = 'k'::bytea ORDER BY 1",
    );
    assert.deepEqual(rows, [{ partition: 0 }, { partition: 1 }]);
  });

  it("releases a parked key at a redrive's copies, applies them in order, and parks it again when the copy fails again", async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    await f.runner(pool);
    const topic = f.topics.movieRatings;
    const partition = 0;
    const write = async (value: Buffer, headers: Record<string, string> = {}) =>
      f.produceRaw(topic, { key: 'tt0000007', value, headers, partition });
    const encoded = (event: ReturnType<typeof rating>) => f.codec.encode(event);
    await write(Buffer.from('garbage'));
    const parked = [rating('alice', 'tt0000007', 4), rating('bob', 'tt0000007', 2)];
    for (const event of parked) await write(encoded(event).value, encoded(event).headers);
    await eventually(async () => {
      const all = await outcomes(pool, 'ratings');
      assert.deepEqual(
        parked.map((e) => all[e.envelope.eventId]?.split(':')[0]),
        ['parked', 'parked'],
      );
    });
    const { rows: letters } = await pool.query<{ offset: number }>('SELECT "offset" FROM ratings.dead_letters');

    // What the redrive tool writes: the dead letter (here fixed by hand) and the parked events, in order.
    const redrive = async (first: Buffer, firstHeaders: Record<string, string>) => {
      const id = newEventId();
      await pool.query(
        `INSERT INTO operations.redrives (redrive_id, projection, topic, partition, key, dead_letter_offset, records, requested_by)
         VALUES ($1, 'ratings', $2, $3, 'tt0000007'::bytea, $4, 3, 'test')`,
        [id, topic, partition, letters[0]!.offset],
      );
      const copyHeaders = { [DLQ_HEADERS.redrive]: id, [DLQ_HEADERS.attempt]: '1' };
      await write(first, { ...firstHeaders, ...copyHeaders, [DLQ_HEADERS.redriveReleases]: 'true' });
      for (const event of parked) await write(encoded(event).value, { ...encoded(event).headers, ...copyHeaders });
      return id;
    };
    const fixed = rating('carol', 'tt0000007', 5);
    const released = await redrive(encoded(fixed).value, encoded(fixed).headers);
    await eventually(async () =>
      assert.deepEqual(await aggregates(pool), [{ record_id: 'tt0000007', count: 3, sum: 11, count_1: 0, count_5: 1 }]),
    );
    const all = await outcomes(pool, 'ratings');
    assert.deepEqual(
      [fixed, ...parked].map((e) => all[e.envelope.eventId]),
      ['applied', 'applied', 'applied'],
    );
    assert.deepEqual((await pool.query('SELECT key FROM ratings.parked_keys')).rows, []);
    assert.deepEqual(
      (await pool.query('SELECT outcome FROM operations.redrives WHERE redrive_id = $1', [released])).rows,
      [{ outcome: 'applied' }],
    );

    // A copy without the registered redrive releases nothing; a registered copy that fails again parks the key again.
    await write(Buffer.from('garbage'), {
      [DLQ_HEADERS.redrive]: newEventId(),
      [DLQ_HEADERS.attempt]: '1',
      [DLQ_HEADERS.redriveReleases]: 'true',
    });
    const failed = await redrive(Buffer.from('still garbage'), {});
    await eventually(async () => {
      const { rows } = await pool.query('SELECT outcome FROM operations.redrives WHERE redrive_id = $1', [failed]);
      assert.deepEqual(rows, [{ outcome: 'dead_lettered' }]);
    });
    const letter = (await f.readTopic(f.topics.deadLetters.get(topic)!, 3)).at(-1)!;
    assert.equal(letter.value?.toString(), 'still garbage');
    assert.equal(letter.headers?.[DLQ_HEADERS.attempt]?.toString(), '2');
    const { rows: parkedAgain } = await pool.query<{ since_offset: number }>(
      'SELECT since_offset FROM ratings.parked_keys',
    );
    assert.equal(parkedAgain.length, 1);
    assert.equal(
      await aggregates(pool).then((a) => a[0]!.count),
      3,
      'the copies behind it were applied by the first redrive: skipped, not applied twice',
    );
  });

  it('dead-letters the one event Postgres refuses and applies the rest of its batch', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    await pool.query("ALTER TABLE movie_details.movies ADD CONSTRAINT no_forbidden CHECK (title <> 'Forbidden')");
    await f.runner(pool);
    // Within a batch only a movie's final row is written, so the refused one is its key's last event.
    const refused = metadataSet('m3', 'Forbidden');
    for (const event of [metadataSet('m1', 'Fine'), refused, metadataSet('m2', 'Other')])
      await f.publisher.publish(event);
    await eventually(async () =>
      assert.match(
        (await outcomes(pool, 'movie_details'))[refused.envelope.eventId] ?? '',
        /^dead_lettered: database_refused: .*no_forbidden.*SQLSTATE 23514/,
      ),
    );
    const later = metadataSet('m3', 'Later');
    await f.publisher.publish(later);
    await eventually(async () =>
      assert.match((await outcomes(pool, 'movie_details'))[later.envelope.eventId] ?? '', /^parked/),
    );
    const { rows } = await pool.query('SELECT movie_id, title, version FROM movie_details.movies ORDER BY 1');
    assert.deepEqual(rows, [
      { movie_id: 'm1', title: 'Fine', version: 1 },
      { movie_id: 'm2', title: 'Other', version: 1 },
    ]);
    const [letter] = await f.readTopic(f.topics.deadLetters.get(f.topics.movieMetadata)!, 1);
    assert.equal(header(letter?.headers, DLQ_HEADERS.errorClass), 'database_refused');
  });

  it('pauses only the failing partition while the database refuses it, then recovers without dead-lettering', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    // A failure that only the aggregate row of one movie hits: only that movie's partition stalls.
    const unstall = await stallAggregate(pool, 'stuck');
    const group = uniqueName('group');
    const first = await f.runner(pool, group);

    const stuck = await f.publisher.publish(rating('alice', 'stuck', 3));
    const others = [];
    for (let i = 0; i < 12; i++)
      others.push({ movie: `m${i}`, position: await f.publisher.publish(rating('alice', `m${i}`, 4)) });
    const flowing = others.filter((o) => o.position.partition !== stuck.partition).map((o) => o.movie);
    assert.ok(flowing.length > 0, 'some movies live on other partitions');
    await f.publisher.publish(metadataSet('m0', 'Other topic'));

    await eventually(async () => {
      const applied = new Set((await aggregates(pool)).map((a) => a.record_id));
      for (const movie of flowing)
        assert.ok(applied.has(movie), `${movie} applied while partition ${stuck.partition} is stuck`);
      const { rows } = await pool.query('SELECT title FROM movie_details.movies');
      assert.deepEqual(rows, [{ title: 'Other topic' }]);
    });
    assert.equal(first.problem(), `${f.topics.movieRatings}/${stuck.partition}: stalled for the test`);

    // A second member joins mid-retry; whichever owns the partition afterwards, no stale problem stays behind.
    const second = await f.runner(pool, group);
    await unstall();
    await eventually(async () => assert.ok((await aggregates(pool)).some((a) => a.record_id === 'stuck')), 30_000);
    await eventually(() => {
      assert.equal(first.problem(), undefined);
      assert.equal(second.problem(), undefined);
      return Promise.resolve();
    }, 30_000);
    const { rows } = await pool.query<{ n: number }>(
      'SELECT (SELECT count(*) FROM ratings.dead_letters) + (SELECT count(*) FROM ratings.parked_keys) AS n',
    );
    assert.deepEqual(rows, [{ n: 0 }], 'nothing transient is dead-lettered or parked');
    assert.equal((await aggregates(pool)).length, 13);
  });
});

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildQueryApp } from '../../query-api/app.ts';
import { createProgressWatcher } from '../../query-api/progress.ts';
import { createPool, type Pool } from '../../shared/db/pool.ts';
import { EventCodec } from '../../shared/kafka/codec.ts';
import { createEventIdSeal, newEventId } from '../../shared/events/event-id.ts';
import type { CatalogueEvent, RatingEvent } from '../../shared/events/types.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { eventually } from '../../harness/eventually.ts';
import { rebuildLockName } from '../../projectors/replay/rebuild.ts';
import { metadataSet } from '../support/projector-fixture.ts';
import { startProjectorProcess, startToolProcess, type ProjectorProcess } from '../../harness/projector-process.ts';
import { ExpectedFold, produceStream, ratingEvents, takeEvents } from '../../harness/rating-stream.ts';
import { createTestDatabase, createTestTopics, quietLogger, services, uniqueName } from '../../harness/services.ts';
import { verifyRatings } from '../../harness/verify-ratings.ts';
import { registryClient } from '../../shared/registry.ts';

/**
 * The replay tool as an operator runs it, beside a live projector process and a query API that
 * keep working: the rebuilt read models equal the fold of the log, and no read ever sees a
 * movie vanish or its ratings shrink while the tables are rebuilt and swapped.
 */

const MOVIES = 40;
const movieIds = Array.from({ length: MOVIES }, (_, i) => `tt${String(i + 1).padStart(7, '0')}`);

async function setup(t: TestContext) {
  const [db, topics] = await Promise.all([createTestDatabase(), createTestTopics()]);
  const kafka = createKafka('test', services.kafka, quietLogger());
  const codec = await EventCodec.forWriting(registryClient(services.registry), topics);
  const producer = kafka.producer();
  await producer.connect();
  const pool = createPool(db.url, 4, quietLogger());
  const processes: ProjectorProcess[] = [];
  const settings = { databaseUrl: db.url, topics, groupId: uniqueName('group') };
  t.after(async () => {
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await pool.end();
    await producer.disconnect();
    await Promise.all([db.drop(), topics.remove()]);
  });
  const expected = new ExpectedFold();
  const ratings = ratingEvents(Date.now(), { movies: MOVIES, users: 30 });
  return {
    pool,
    databaseUrl: db.url,
    topics,
    expected,
    /** `n` more events of the stream, with re-ratings and deletes, in the log. */
    async rate(n: number) {
      await produceStream(producer, codec, takeEvents(ratings, n, expected), 500, 0);
    },
    async publish(events: readonly CatalogueEvent[]) {
      for (const event of events) {
        const { topic, key, value, headers } = codec.encode(event);
        await producer.send({ topic, acks: -1, messages: [{ key, value, headers }] });
      }
    },
    liveProjector() {
      const p = startProjectorProcess(settings);
      processes.push(p);
      return p;
    },
    replay(args: string[], env: Record<string, string> = {}) {
      const p = startToolProcess('replay', args, { ...settings, env });
      processes.push(p);
      return p;
    },
  };
}

type Setup = Awaited<ReturnType<typeof setup>>;

/** Every event of the log applied: the stored offsets of both projections reach `ratings` and `metadata`. */
async function caughtUp(pool: Pool, ratings: number, metadata: number, timeoutMs = 120_000): Promise<void> {
  await eventually(
    async () => {
      const { rows } = await pool.query<{ r: number; m: number }>(
        `SELECT (SELECT coalesce(sum(next_offset), 0)::int FROM ratings.projection_offsets) AS r,
                (SELECT coalesce(sum(next_offset), 0)::int FROM movie_details.projection_offsets) AS m`,
      );
      assert.deepEqual(rows[0], { r: ratings, m: metadata });
    },
    timeoutMs,
    100,
  );
}

async function assertFoldOfTheLog(s: Setup, ratingEventCount: number): Promise<void> {
  const client = await s.pool.connect();
  try {
    assert.deepEqual(
      await verifyRatings(client, s.expected, ratingEventCount),
      [],
      'the ratings equal the fold of the log',
    );
  } finally {
    client.release();
  }
}

/** Ratings by users nobody rated with before and who never take them back: counts only grow. */
function freshRatings(round: number, s: Setup): RatingEvent[] {
  return movieIds.map((recordId, i) => {
    const occurredAt = new Date();
    const event: RatingEvent = {
      type: 'RatingSubmitted',
      envelope: { eventId: newEventId(occurredAt.getTime()), occurredAt, principal: 'late', correlationId: 'late' },
      recordType: 'movie',
      recordId,
      userId: `late-${round}-${i}`,
      value: 1 + ((round + i) % 5),
      providerId: null,
    };
    s.expected.applyEvent(event);
    return event;
  });
}

const schemasOf = async (pool: Pool) =>
  (
    await pool.query<{ name: string }>(
      "SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'ratings%' OR nspname LIKE 'movie_details%' ORDER BY 1",
    )
  ).rows.map((r) => r.name);

describe('replay tool', () => {
  it('rebuilds every projection under live writes and reads; no read sees a movie vanish or its ratings shrink', async (t) => {
    const s = await setup(t);
    s.liveProjector();
    await s.publish(movieIds.map((id) => metadataSet(id, `Movie ${id}`)));
    await s.rate(6000);
    await caughtUp(s.pool, 6000, MOVIES);

    const app = buildQueryApp({
      logger: quietLogger(),
      metrics: createMetrics('query-api'),
      pool: s.pool,
      progress: createProgressWatcher(s.pool, s.databaseUrl, quietLogger()),
      eventIdSeal: createEventIdSeal('test-event-id-secret-that-is-long-enough'),
    });
    await app.ready();
    t.after(() => app.close());
    // What each movie showed when the rebuild began: from then on only fresh ratings arrive.
    const floor = new Map<string, number>();
    for (const id of movieIds)
      floor.set(
        id,
        (await app.inject({ url: `/v1/movies/${id}` })).json<{ rating: { count: number } | null }>().rating?.count ?? 0,
      );

    let reading = true;
    const problems: string[] = [];
    let reads = 0;
    const reader = (async () => {
      while (reading) {
        for (const id of movieIds) {
          const response = await app.inject({ url: `/v1/movies/${id}` });
          reads += 1;
          if (response.statusCode !== 200) problems.push(`${id}: ${response.statusCode}`);
          else {
            const count = response.json<{ rating: { count: number } | null }>().rating?.count ?? 0;
            if (count < floor.get(id)!)
              problems.push(`${id}: ${count} ratings, fewer than the ${floor.get(id)!} before`);
            floor.set(id, count);
          }
        }
        // Answers from the query API's cache never wait on I/O: let timers and the child processes' events in.
        await sleep(1);
      }
    })();
    let writing = true;
    let round = 0;
    const writer = (async () => {
      while (writing) {
        await s.publish(freshRatings(round++, s));
        await sleep(50);
      }
    })();

    // Small fetches: the rebuild reaches the live offsets step by step while they move on.
    const replay = s.replay(['all', '--drop-old-after-seconds', '0'], { PROJECTOR_MAX_BYTES_PER_PARTITION: '65536' });
    assert.equal(await replay.exited, 0, replay.output() + replay.errors());
    writing = false;
    await writer;
    // After the swap the live projector goes on in the rebuilt tables.
    await s.publish(freshRatings(round++, s));
    const ratingEvents = 6000 + round * MOVIES;
    await caughtUp(s.pool, ratingEvents, MOVIES);
    reading = false;
    await reader;

    assert.deepEqual(problems, [], `${reads} reads during the rebuild`);
    assert.ok(reads > MOVIES, 'reads happened throughout');
    await assertFoldOfTheLog(s, ratingEvents);
    const { rows } = await s.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM movie_details.movies WHERE version = 1',
    );
    assert.deepEqual(rows, [{ n: MOVIES }]);
    assert.match(replay.output(), /ratings: rebuilt [\d,]+ events in/);
    assert.match(replay.output(), /movie-details: rebuilt [\d,]+ events in/);
    assert.deepEqual(
      await schemasOf(s.pool),
      ['movie_details', 'ratings'],
      'the old tables are dropped, no shadow is left',
    );
  });

  it('finishes a rebuild killed half-way with the same result, from where it stopped', async (t) => {
    const s = await setup(t);
    s.liveProjector();
    await s.rate(30_000);
    await caughtUp(s.pool, 30_000, 0);

    // Small fetches, so that the rebuild moves in many small steps and is killed between two.
    const first = s.replay(['ratings', '--keep-old'], { PROJECTOR_MAX_BYTES_PER_PARTITION: '65536' });
    const rebuilt = async () =>
      (
        await s.pool
          .query<{ n: number }>(
            'SELECT coalesce(sum(next_offset), 0)::int AS n FROM ratings__rebuild.projection_offsets',
          )
          .catch(() => ({ rows: [{ n: 0 }] }))
      ).rows[0]!.n;
    await eventually(async () => assert.ok((await rebuilt()) > 3000, 'the rebuild is under way'), 60_000, 10);
    await first.kill('SIGKILL');
    const killedAt = await rebuilt();
    assert.ok(killedAt < 30_000, `killed half-way, at ${killedAt}`);

    const dryRun = s.replay(['ratings', '--dry-run']);
    assert.equal(await dryRun.exited, 0);
    assert.match(dryRun.output(), /resuming the rebuild left there at [\d,]+ events/);
    assert.match(dryRun.output(), /dry run: nothing was changed/);

    const second = s.replay(['ratings', '--keep-old']);
    assert.equal(await second.exited, 0, second.output());
    assert.match(second.output(), /resuming a rebuild that had applied [\d,]+/);
    await assertFoldOfTheLog(s, 30_000);
    assert.deepEqual((await schemasOf(s.pool)).length, 3, 'the replaced tables are kept');

    const keep = s.replay(['drop-old', 'ratings', '--dry-run']);
    assert.equal(await keep.exited, 0);
    assert.match(keep.output(), /ratings: would drop ratings__old_\d{14}/);
    assert.equal((await schemasOf(s.pool)).length, 3, 'a dry run drops nothing');
    const drop = s.replay(['drop-old', 'ratings']);
    assert.equal(await drop.exited, 0);
    assert.deepEqual(await schemasOf(s.pool), ['movie_details', 'ratings']);
  });

  it('refuses a rebuild while another of the same projection holds its lock, and an unknown projection', async (t) => {
    const s = await setup(t);
    await s.rate(100);
    const holder = await s.pool.connect();
    try {
      await holder.query('SELECT pg_advisory_lock(hashtext($1))', [rebuildLockName('ratings')]);
      const refused = s.replay(['ratings']);
      assert.equal(await refused.exited, 3);
      assert.deepEqual(await schemasOf(s.pool), ['movie_details', 'ratings'], 'nothing was created');
      await holder.query('SELECT pg_advisory_unlock(hashtext($1))', [rebuildLockName('ratings')]);
    } finally {
      holder.release();
    }
    const allowed = s.replay(['ratings', '--drop-old-after-seconds', '0']);
    assert.equal(await allowed.exited, 0, allowed.output());
    assert.equal(await s.replay(['reviews']).exited, 2);
  });

  it('refuses bad arguments, and a database the projectors never migrated, changing nothing', async (t) => {
    const s = await setup(t);
    for (const bad of [
      ['ratings', '--drop-old-after-seconds'],
      ['ratings', '--drop-old-after-seconds', 'soon'],
      ['ratings', '--dry-run=yes'],
      ['ratings', '--bogus'],
      [],
      ['ratings', 'all'],
    ]) {
      const refused = s.replay(bad);
      assert.equal(await refused.exited, 2, bad.join(' '));
      assert.match(refused.errors(), /usage: npm run replay/);
    }
    await s.pool.query('DROP SCHEMA ratings CASCADE');
    const missing = s.replay(['ratings']);
    assert.equal(await missing.exited, 1);
    assert.match(missing.errors(), /There is no schema ratings to rebuild/);
    assert.deepEqual(await schemasOf(s.pool), ['movie_details'], 'no shadow was created');
  });
});

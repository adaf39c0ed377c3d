import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createShadow, swapSchemas } from '../../projectors/replay/shadow.ts';
import { buildQueryApp } from '../../query-api/app.ts';
import { createProgressWatcher } from '../../query-api/progress.ts';
import { createPool, withTransaction, type Pool, type PoolClient } from '../../shared/db/pool.ts';
import { createEventIdSeal, newEventId } from '../../shared/events/event-id.ts';
import { encodeConsistencyToken } from '../../shared/events/position.ts';
import { PROGRESS_CHANNEL } from '../../shared/read-models.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { eventually } from '../../harness/eventually.ts';
import { createTestDatabase, freePort, quietLogger, type TestDatabase } from '../../harness/services.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

const TEST_SEAL = createEventIdSeal('query-test-event-id-secret-long-enough');

/** The query API as query-api/main.ts wires it, over `pool`. */
const testQueryApp = (pool: Pool, databaseUrl: string, watching: { listeningPollMs?: number } = {}) =>
  buildQueryApp({
    logger: quietLogger(),
    metrics: createMetrics('query-api'),
    pool,
    progress: createProgressWatcher(pool, databaseUrl, quietLogger(), watching),
    eventIdSeal: TEST_SEAL,
  });

/**
 * No poll while listening within a test: a read then ends consistent only through the mechanism
 * under test (an announcement, the fast poll of a reader that cannot listen, a position already
 * applied), and otherwise at its wait bound, stale. No assertion on elapsed time is needed.
 */
const NO_LISTENING_POLL = { listeningPollMs: 3_600_000 };

/** Announces that offsets moved without saying which, as a rebuild's swap does. */
const announce = (client: PoolClient) => client.query(`SELECT pg_notify($1, '')`, [PROGRESS_CHANNEL]);
/** Announces the offsets a projection stored in `table` (by default its schema's offsets table), as its transaction does. */
async function announceOffsets(
  client: PoolClient,
  schema: string,
  topic: string,
  offsets: Array<[number, number]>,
  table?: string,
) {
  const { rows } = await client.query<{ oid: string | null }>(`SELECT to_regclass($1)::oid::text AS oid`, [
    `${schema}.projection_offsets`,
  ]);
  await client.query(`SELECT pg_notify($1, $2)`, [
    PROGRESS_CHANNEL,
    JSON.stringify({ schema, table: table ?? rows[0]!.oid ?? '0', topic, offsets }),
  ]);
}

/** The backends of this database listening for progress announcements. */
async function listeners(pool: Pool): Promise<number[]> {
  const { rows } = await pool.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1`,
    [`LISTEN "${PROGRESS_CHANNEL}"`],
  );
  return rows.map((r) => r.pid);
}

/** The query API over a real read model, rows written as the projector writes them. */
describe('query API', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: FastifyInstance;

  before(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, 2, quietLogger());
    app = testQueryApp(pool, db.url);
    await pool.query(
      `INSERT INTO movie_details.movies (movie_id, title, description, director, year, actors, version, updated_at) VALUES
         ('tt0047478', 'Seven Samurai', 'Farmers hire samurai.', 'Akira Kurosawa', 1954, '["Toshiro Mifune"]', 3, '2026-11-01T12:00:00Z'),
         ('tt0000001', 'Unrated', '', 'Nobody', NULL, '[]', 1, '2026-11-02T12:00:00Z')`,
    );
    await pool.query(
      `INSERT INTO ratings.rating_aggregates (record_type, record_id, count, sum, count_1, count_2, count_3, count_4, count_5) VALUES
         ('movie', 'tt0047478', 3, 11, 0, 0, 1, 1, 1),
         ('movie', 'tt-only-ratings', 1, 5, 0, 0, 0, 0, 1)`,
    );
  });
  after(async () => {
    await app.close();
    await pool.end();
    await db.drop();
  });

  const get = (id: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url: `/v1/movies/${id}`, headers });

  it('serves metadata with the aggregated rating and a revision ETag', async () => {
    const response = await get('tt0047478');
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers.etag, '"3.3.11"');
    assert.deepEqual(response.json(), {
      movieId: 'tt0047478',
      title: 'Seven Samurai',
      description: 'Farmers hire samurai.',
      director: 'Akira Kurosawa',
      year: 1954,
      actors: ['Toshiro Mifune'],
      rating: { average: 3.67, count: 3 },
      version: 3,
      updatedAt: '2026-11-01T12:00:00.000Z',
    });
  });

  it('serves a movie nobody rated with a null rating', async () => {
    const response = await get('tt0000001');
    assert.equal(response.statusCode, 200);
    assert.equal(response.json<{ rating: unknown }>().rating, null);
  });

  it('answers 304 to a matching If-None-Match, in any of its forms', async () => {
    for (const header of ['"3.3.11"', 'W/"3.3.11"', '"other", "3.3.11"', '*']) {
      const response = await get('tt0047478', { 'if-none-match': header });
      assert.equal(response.statusCode, 304, header);
      assert.equal(response.headers.etag, '"3.3.11"');
      assert.equal(response.body, '');
    }
    assert.equal((await get('tt0047478', { 'if-none-match': '"3"' })).statusCode, 200);
  });

  for (const [name, id] of [
    ['a movie with ratings but no metadata', 'tt-only-ratings'],
    ['an unknown movie', 'tt9999999'],
  ]) {
    it(`answers 404 with a problem for ${name}`, async () => {
      const response = await get(id!);
      assert.equal(response.statusCode, 404);
      assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.deepEqual(response.json(), {
        type: 'urn:movie-catalogue:problem:not-found',
        title: 'Not found',
        status: 404,
        detail: `No movie ${decodeURIComponent(id!)}.`,
        instance: `/v1/movies/${id}`,
      });
    });
  }

  it('answers 400 for an id no movie can have, on every read of a movie', async () => {
    for (const url of ['/v1/movies/not%20an%20id', '/v1/movies/not%20an%20id/rating', `/v1/movies/${'x'.repeat(65)}`]) {
      const response = await app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 400, url);
      assert.deepEqual(response.json<{ errors: unknown }>().errors, [
        { field: 'movieId', message: 'must be 1 to 64 letters, digits or ._~-' },
      ]);
    }
  });

  it("serves a movie's rating with its distribution, count 0 for a movie nobody rated, 404 for one it knows nothing of", async () => {
    const rating = async (id: string) => app.inject({ method: 'GET', url: `/v1/movies/${id}/rating` });
    assert.deepEqual((await rating('tt0047478')).json(), {
      average: 3.67,
      count: 3,
      distribution: { '1': 0, '2': 0, '3': 1, '4': 1, '5': 1 },
    });
    assert.deepEqual((await rating('tt-only-ratings')).json(), {
      average: 5,
      count: 1,
      distribution: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 1 },
    });
    assert.deepEqual((await rating('tt0000001')).json(), {
      average: null,
      count: 0,
      distribution: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 },
    });
    const unknown = await rating('tt9999999');
    assert.equal(unknown.statusCode, 404);
    // Every rating taken back, no metadata: nothing to show.
    await pool.query(`INSERT INTO ratings.rating_aggregates VALUES ('movie', 'tt-all-deleted', 0, 0, 0, 0, 0, 0, 0)`);
    assert.equal((await rating('tt-all-deleted')).statusCode, 404);
  });

  it('reports ready while Postgres answers', async () => {
    const response = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.deepEqual(response.json(), { status: 'ready', checks: { postgres: 'ok' } });
  });
});

describe('query API: listing movies', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: FastifyInstance;
  const insert = (ids: string[], director: (i: number) => string) =>
    pool.query(
      `INSERT INTO movie_details.movies (movie_id, title, description, director, year, actors, version, updated_at)
       SELECT id, 'Title ' || id, '', d, NULL, '[]', 1, now() FROM unnest($1::text[], $2::text[]) AS t(id, d)`,
      [ids, ids.map((_, i) => director(i))],
    );

  before(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, 3, quietLogger());
    app = testQueryApp(pool, db.url);
    await insert(
      Array.from({ length: 57 }, (_, i) => `m${String(i).padStart(3, '0')}`),
      (i) => (i % 3 === 0 ? 'Agnès Varda' : 'Other'),
    );
  });
  after(async () => {
    await app.close();
    await pool.end();
    await db.drop();
  });

  const list = (query: string) => app.inject({ method: 'GET', url: `/v1/movies${query}` });
  type Page = { items: Array<{ movieId: string; director: string }>; nextCursor: string | null };

  /** Follows nextCursor to the end; `between` runs after each page. */
  async function walk(base: string, between: (page: number) => Promise<void> = () => Promise.resolve()) {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page++) {
      const response = await list(`${base}${cursor ? `${base.includes('?') ? '&' : '?'}cursor=${cursor}` : ''}`);
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json<Page>();
      seen.push(...body.items.map((m) => m.movieId));
      await between(page);
      if (!body.nextCursor) return seen;
      cursor = body.nextCursor;
    }
    assert.fail('more pages than movies');
  }

  it('pages through every movie once, in id order, 20 by default', async () => {
    const first = (await list('')).json<Page>();
    assert.equal(first.items.length, 20);
    const seen = await walk('');
    assert.equal(seen.length, 57);
    assert.deepEqual(seen, [...seen].sort());
    assert.equal(new Set(seen).size, 57);
  });

  it('lists every movie present throughout exactly once while movies are added and changed', async () => {
    const before = (await walk('?limit=100')).filter((id) => id.startsWith('m'));
    const seen = await walk('?limit=7', async (page) => {
      // New movies on both sides of the cursor, and a change to one already listed.
      await insert([`a-new-${page}`, `z-new-${page}`], () => 'Other');
      await pool.query(
        `UPDATE movie_details.movies SET title = 'Changed', version = version + 1 WHERE movie_id = 'm000'`,
      );
    });
    const old = seen.filter((id) => id.startsWith('m'));
    assert.deepEqual(old, before, 'each movie present throughout, once, in order');
    assert.equal(new Set(seen).size, seen.length, 'nothing twice');
  });

  it('filters by director, and its cursors only continue that listing', async () => {
    const varda = await walk('?director=Agn%C3%A8s%20Varda&limit=5');
    assert.equal(varda.length, 19);
    const page = (await list('?director=Agn%C3%A8s%20Varda&limit=5')).json<Page>();
    assert.ok(page.items.every((m) => m.director === 'Agnès Varda'));
    const crossed = await list(`?cursor=${page.nextCursor}`);
    assert.equal(crossed.statusCode, 400);
    assert.equal(crossed.json<{ errors: Array<{ field: string }> }>().errors[0]!.field, 'cursor');
  });

  for (const [name, query, field] of [
    ['a limit of 0', '?limit=0', 'limit'],
    ['a limit over 100', '?limit=101', 'limit'],
    ['a limit that is no number', '?limit=ten', 'limit'],
    ['a negative limit', '?limit=-5', 'limit'],
    ['two limits', '?limit=5&limit=6', 'limit'],
    ['an empty director', '?director=', 'director'],
    ['a cursor that is not ours', '?cursor=bm90LWEtY3Vyc29y', 'cursor'],
    [
      'a cursor naming something else than an id',
      `?cursor=${Buffer.from(JSON.stringify({ a: "x' OR 1=1", d: null })).toString('base64url')}`,
      'cursor',
    ],
    ['an unknown parameter', '?directr=Varda', 'directr'],
  ]) {
    it(`answers 400 naming the field for ${name}`, async () => {
      const response = await list(query!);
      assert.equal(response.statusCode, 400, response.body);
      assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.deepEqual(
        response.json<{ errors: Array<{ field: string }> }>().errors.map((e) => e.field),
        [field],
      );
    });
  }

  it('answers 400 to a query with a malformed percent-escape, rather than filter by its literal text', async () => {
    for (const query of ['?director=%c3%28', '?director=%zz', '?director=Varda%']) {
      const response = await list(query);
      assert.equal(response.statusCode, 400, query);
      assert.equal(response.json<{ type: string }>().type, 'urn:movie-catalogue:problem:malformed-request', query);
    }
  });

  it('takes a limit up to 100', async () => {
    assert.equal(
      (await list('?limit=100')).json<Page>().items.length,
      Math.min(100, (await walk('?limit=100')).length),
    );
  });
});

describe('query API: Postgres unreachable', () => {
  it('answers 503 with Retry-After and readiness 503 while Postgres is cut off, and recovers without a restart', async (t) => {
    const db = await createTestDatabase();
    const direct = new URL(db.url);
    const proxy = await startTcpProxy(direct.hostname, Number(direct.port));
    const proxied = new URL(db.url);
    proxied.host = `127.0.0.1:${proxy.port}`;
    const pool = createPool(proxied.toString(), 2, quietLogger(), { statementTimeoutMs: 50, connectTimeoutMs: 500 });
    const app = testQueryApp(pool, proxied.toString());
    t.after(async () => {
      await app.close();
      await pool.end();
      await proxy.close();
      await db.drop();
    });
    await pool.query(`INSERT INTO movie_details.movies VALUES ('tt1', 'T', '', 'D', NULL, '[]', 1, now())`);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/movies/tt1' })).statusCode, 200);

    proxy.cutOff();
    // The details cache may answer for one poll interval more; the failing poll then retires it.
    await eventually(
      async () => assert.equal((await app.inject({ method: 'GET', url: '/v1/movies/tt1' })).statusCode, 503),
      2000,
      5,
    );
    for (const url of ['/v1/movies/tt1', '/v1/movies/tt1/rating', '/v1/movies']) {
      const response = await app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 503, url);
      assert.equal(response.headers['retry-after'], '1');
      // The read model's own answer, at its statement and connect timeouts, not the request's timeout.
      const problem = response.json<{ type: string; detail: string }>();
      assert.equal(problem.type, 'urn:movie-catalogue:problem:service-unavailable');
      assert.equal(problem.detail, 'The read models cannot be read right now.');
    }
    assert.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 503);

    proxy.restore();
    await eventually(async () =>
      assert.equal((await app.inject({ method: 'GET', url: '/v1/movies/tt1' })).statusCode, 200),
    );
    assert.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200);
  });

  it('is not ready before the migrations have created its tables', async (t) => {
    const db = await createTestDatabase();
    const pool = createPool(db.url, 1, quietLogger());
    const app = testQueryApp(pool, db.url);
    t.after(async () => {
      await app.close();
      await pool.end();
      await db.drop();
    });
    await pool.query('DROP SCHEMA movie_details CASCADE');
    const response = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(response.statusCode, 503);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/movies/tt1' })).statusCode, 503);
  });
});

describe('query API: details cache', () => {
  /** A fresh database holding one movie titled `title`, at metadata offset 1, and the app's read of its title. */
  async function oneMovie(t: TestContext, title: string) {
    const db = await createTestDatabase();
    const pool = createPool(db.url, 2, quietLogger());
    const app = testQueryApp(pool, db.url);
    t.after(async () => {
      await app.close();
      await pool.end();
      await db.drop();
    });
    await pool.query(`INSERT INTO movie_details.movies VALUES ('tt1', $1, '', 'D', NULL, '[]', 1, now())`, [title]);
    await pool.query(
      `INSERT INTO movie_details.projection_offsets (topic, partition, next_offset) VALUES ('metadata', 0, 1)`,
    );
    const titleNow = async (headers: Record<string, string> = {}) =>
      (await app.inject({ method: 'GET', url: '/v1/movies/tt1', headers })).json<{ title: string }>().title;
    return { pool, title: titleNow };
  }

  it('serves details again until a projection commits, and never a stale answer to a read whose token it passed', async (t) => {
    const { pool, title } = await oneMovie(t, 'Before');
    assert.equal(await title(), 'Before');

    // A change behind the projections' back (no offset moves) is not seen: the answer is cached.
    await pool.query(`UPDATE movie_details.movies SET title = 'Sneaked' WHERE movie_id = 'tt1'`);
    assert.equal(await title(), 'Before');

    // A projection's transaction moves the offset with the row: a read with its token sees it at once.
    await withTransaction(pool, async (client) => {
      await client.query(`UPDATE movie_details.movies SET title = 'After', version = 2 WHERE movie_id = 'tt1'`);
      await client.query(`UPDATE movie_details.projection_offsets SET next_offset = 2 WHERE topic = 'metadata'`);
      await announce(client);
    });
    assert.equal(
      await title({ 'x-consistency-token': encodeConsistencyToken([{ topic: 'metadata', partition: 0, offset: 1 }]) }),
      'After',
    );
    // And a read without one as soon as the announcement is heard.
    await eventually(async () => assert.equal(await title(), 'After'), 150, 5);
  });

  it('serves a read released by an announcement the row its transaction wrote, not the cached one', async (t) => {
    const { pool, title } = await oneMovie(t, 'Before');
    assert.equal(await title(), 'Before');
    await eventually(async () => assert.equal((await listeners(pool)).length, 1), 3000, 20);
    await title({ 'x-consistency-token': encodeConsistencyToken([{ topic: 'metadata', partition: 0, offset: 0 }]) });
    const pending = title({
      'x-consistency-token': encodeConsistencyToken([{ topic: 'metadata', partition: 0, offset: 1 }]),
      'x-consistency-wait': '2000',
    });
    await withTransaction(pool, async (client) => {
      await client.query(`UPDATE movie_details.movies SET title = 'After', version = 2 WHERE movie_id = 'tt1'`);
      await client.query(`UPDATE movie_details.projection_offsets SET next_offset = 2 WHERE topic = 'metadata'`);
      await announceOffsets(client, 'movie_details', 'metadata', [[0, 2]]);
    });
    assert.equal(await pending, 'After');
  });

  it('serves the rebuilt read model as soon as a rebuild swaps it in', async (t) => {
    const { pool, title } = await oneMovie(t, 'Live');
    assert.equal(await title(), 'Live');

    // The same offsets behind another read model: only the swap itself says that anything changed.
    await createShadow(pool, 'movie_details', 'movie_details__rebuild');
    await pool.query(
      `INSERT INTO movie_details__rebuild.movies VALUES ('tt1', 'Rebuilt', '', 'D', NULL, '[]', 1, now())`,
    );
    await pool.query(
      `INSERT INTO movie_details__rebuild.projection_offsets (topic, partition, next_offset) VALUES ('metadata', 0, 1)`,
    );
    await withTransaction(pool, (client) =>
      swapSchemas(client, 'movie_details', 'movie_details__rebuild', 'movie_details__old'),
    );
    await eventually(async () => assert.equal(await title(), 'Rebuilt'), 150, 5);
  });
});

describe('query API: read-your-writes', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: FastifyInstance;
  let progressQueries = 0;
  let ratingQueries = 0;

  before(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, 3, quietLogger());
    // Counts the shared poll's queries, to see that waiting requests share them.
    const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
    (pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) => {
      if ((args[0] as { name?: string }).name === 'projection-progress') progressQueries += 1;
      if ((args[0] as { name?: string }).name === 'movie-ratings') ratingQueries += 1;
      return query(...args);
    };
    app = testQueryApp(pool, db.url, NO_LISTENING_POLL);
    await pool.query(`INSERT INTO movie_details.movies VALUES ('tt1', 'T', '', 'D', NULL, '[]', 1, now())`);
    await pool.query(
      `INSERT INTO movie_details.projection_offsets (topic, partition, next_offset) VALUES ('metadata', 0, 3)`,
    );
    await pool.query(
      `INSERT INTO ratings.projection_offsets (topic, partition, next_offset) VALUES ('ratings', 1, 10)`,
    );
  });
  after(async () => {
    await app.close();
    await pool.end();
    await db.drop();
  });

  /** Moves the ratings offset as a projector's transaction does, announcing it; resolves with the time of the commit. */
  const commitRatingsOffset = (next: number) =>
    withTransaction(pool, async (client) => {
      await client.query(`UPDATE ratings.projection_offsets SET next_offset = $1 WHERE topic = 'ratings'`, [next]);
      await announce(client);
    }).then(() => performance.now());
  const token = (...positions: Array<[string, number, number]>) =>
    encodeConsistencyToken(positions.map(([topic, partition, offset]) => ({ topic, partition, offset })));
  const read = (headers: Record<string, string>, url = '/v1/movies/tt1') => app.inject({ method: 'GET', url, headers });
  const timed = async (run: () => Promise<{ statusCode: number; headers: Record<string, unknown> }>) => {
    const started = performance.now();
    const response = await run();
    return { response, ms: performance.now() - started };
  };

  it('answers at once for a position already applied, on every read', async () => {
    for (const url of ['/v1/movies/tt1', '/v1/movies/tt1/rating', '/v1/movies']) {
      // Nothing moves meanwhile: a read that waited for news would end stale at its bound.
      const response = await read(
        { 'x-consistency-token': token(['metadata', 0, 2], ['ratings', 1, 9]), 'x-consistency-wait': '100' },
        url,
      );
      assert.equal(response.statusCode, 200, url);
      assert.equal(response.headers['x-consistency'], 'consistent');
    }
  });

  it('waits until the projections apply the position, then answers', async () => {
    const pending = read({ 'x-consistency-token': token(['metadata', 0, 5]) });
    await withTransaction(pool, async (client) => {
      await client.query(`UPDATE movie_details.projection_offsets SET next_offset = 6 WHERE topic = 'metadata'`);
      await announce(client);
    });
    const response = await pending;
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['x-consistency'], 'consistent');
  });

  // With no poll while listening, only the announcement can answer these reads before their bound.
  it('answers as soon as a projection announces its progress, and meanwhile barely polls', async () => {
    progressQueries = 0;
    assert.equal(
      (await read({ 'x-consistency-token': token(['ratings', 1, 900]), 'x-consistency-wait': '300' })).headers[
        'x-consistency'
      ],
      'stale',
    );
    assert.ok(progressQueries <= 2, `${progressQueries} progress queries in 300 ms`);
    for (const next of [20, 21, 22]) {
      const pending = read({ 'x-consistency-token': token(['ratings', 1, next - 1]), 'x-consistency-wait': '2000' });
      await commitRatingsOffset(next);
      const response = await pending;
      assert.equal(response.headers['x-consistency'], 'consistent');
    }
  });

  it('takes the offsets from the announcement of a projection, without reading them', async () => {
    await read({});
    await eventually(async () => assert.equal((await listeners(pool)).length, 1), 3000, 20);
    progressQueries = 0;
    for (const next of [23, 24, 25, 26, 27]) {
      const pending = read({ 'x-consistency-token': token(['ratings', 1, next - 1]), 'x-consistency-wait': '2000' });
      await withTransaction(pool, async (client) => {
        await client.query(`UPDATE ratings.projection_offsets SET next_offset = $1 WHERE topic = 'ratings'`, [next]);
        await announceOffsets(client, 'ratings', 'ratings', [[1, next]]);
      });
      assert.equal((await pending).headers['x-consistency'], 'consistent');
    }
    // Listening, once it begins, reads the offsets once, and the poll once a second may fall in
    // between; reading them at each announcement would be five reads.
    assert.ok(progressQueries <= 2, `${progressQueries} progress queries for five announcements`);
  });

  it('pays no heed to what the shadow schema of a rebuild announces', async () => {
    await commitRatingsOffset(28);
    assert.equal(
      (await read({ 'x-consistency-token': token(['ratings', 1, 27]), 'x-consistency-wait': '2000' })).headers[
        'x-consistency'
      ],
      'consistent',
    );
    await eventually(async () => assert.equal((await listeners(pool)).length, 1), 3000, 20);
    // A rebuild just begun: behind the live read model on partition 1 (at 28), ahead where it has nothing.
    progressQueries = 0;
    for (let batch = 0; batch < 5; batch += 1) {
      await withTransaction(pool, (client) =>
        announceOffsets(
          client,
          'ratings__rebuild',
          'ratings',
          [
            [1, 1 + batch],
            [4, 1000],
          ],
          '1',
        ),
      );
    }
    const applied = await read({ 'x-consistency-token': token(['ratings', 1, 27]), 'x-consistency-wait': '200' });
    assert.equal(applied.headers['x-consistency'], 'consistent');
    const elsewhere = await read({ 'x-consistency-token': token(['ratings', 4, 0]), 'x-consistency-wait': '200' });
    assert.equal(elsewhere.headers['x-consistency'], 'stale');
    // Not even a read of the offsets for each batch of the rebuild; the poll once a second may fall in between.
    assert.ok(progressQueries <= 1, `${progressQueries} progress queries for five announcements of the shadow`);
  });

  it('reads the offsets, rather than take them, from an announcement about other tables than those it serves', async () => {
    await read({});
    await eventually(async () => assert.equal((await listeners(pool)).length, 1), 3000, 20);
    // As a transaction begun before a swap would write the swapped-out tables under the old name.
    await withTransaction(pool, (client) => announceOffsets(client, 'ratings', 'ratings', [[1, 1000]], '1'));
    const response = await read({ 'x-consistency-token': token(['ratings', 1, 500]), 'x-consistency-wait': '200' });
    assert.equal(response.headers['x-consistency'], 'stale');
  });

  it('listens again after losing its connection', async () => {
    const [before] = await listeners(pool);
    assert.ok(before !== undefined, 'a listening connection');
    await pool.query('SELECT pg_terminate_backend($1)', [before]);
    await eventually(
      async () => assert.deepEqual((await listeners(pool)).filter((pid) => pid !== before).length, 1),
      3000,
      20,
    );
    const pending = read({ 'x-consistency-token': token(['ratings', 1, 29]), 'x-consistency-wait': '2000' });
    await commitRatingsOffset(30);
    assert.equal((await pending).headers['x-consistency'], 'consistent');
  });

  it('polls fast while it cannot listen', async (t) => {
    const unreachable = new URL(db.url);
    unreachable.port = String(await freePort());
    const deaf = testQueryApp(pool, unreachable.toString(), NO_LISTENING_POLL);
    t.after(() => deaf.close());
    for (const next of [50, 51, 52]) {
      const pending = deaf.inject({
        method: 'GET',
        url: '/v1/movies/tt1',
        headers: { 'x-consistency-token': token(['ratings', 1, next - 1]), 'x-consistency-wait': '2000' },
      });
      // Moved by hand, announced to nobody: only the fast poll of a reader that cannot listen sees it.
      await pool.query(`UPDATE ratings.projection_offsets SET next_offset = $1 WHERE topic = 'ratings'`, [next]);
      assert.equal((await pending).headers['x-consistency'], 'consistent');
    }
  });

  it('answers stale at the bound, not later, when the projections lag past it', async () => {
    const { response, ms } = await timed(() =>
      read({ 'x-consistency-token': token(['metadata', 0, 100]), 'x-consistency-wait': '300' }),
    );
    assert.equal(response.statusCode, 200);
    // Only the bound answers a read whose position nothing will apply; a timer never fires early.
    assert.equal(response.headers['x-consistency'], 'stale');
    assert.ok(ms >= 295, `answered after ${Math.round(ms)} ms`);
    const unknownPartition = await timed(() =>
      read({ 'x-consistency-token': token(['ratings', 4, 0]), 'x-consistency-wait': '100' }),
    );
    assert.equal(unknownPartition.response.headers['x-consistency'], 'stale');
  });

  it('waits 1 s by default', async () => {
    // Nothing will apply the position: each read ends at its own bound, so they end in the order of their bounds.
    const ended: string[] = [];
    const bounded = (name: string, wait?: string) =>
      read({
        'x-consistency-token': token(['metadata', 0, 100]),
        ...(wait ? { 'x-consistency-wait': wait } : {}),
      }).then((response) => {
        ended.push(name);
        return response.headers['x-consistency'];
      });
    const answers = await Promise.all([bounded('1.5 s', '1500'), bounded('default'), bounded('0.5 s', '500')]);
    assert.deepEqual(answers, ['stale', 'stale', 'stale']);
    assert.deepEqual(ended, ['0.5 s', 'default', '1.5 s']);
  });

  it('reads a bunch of movies released by one commit in one query', async () => {
    await pool.query(`INSERT INTO ratings.rating_aggregates (record_type, record_id, count, sum, count_1, count_2, count_3, count_4, count_5)
                      SELECT 'movie', 'b' || i, 1, 4, 0, 0, 0, 1, 0 FROM generate_series(1, 20) i`);
    const reads = Array.from({ length: 20 }, (_, i) =>
      read(
        { 'x-consistency-token': token(['ratings', 1, 59]), 'x-consistency-wait': '2000' },
        `/v1/movies/b${i + 1}/rating`,
      ),
    );
    ratingQueries = 0;
    await commitRatingsOffset(60);
    const answers = await Promise.all(reads);
    assert.deepEqual(
      answers.map((a) => [a.statusCode, a.headers['x-consistency'], a.json<{ count: number }>().count]),
      answers.map(() => [200, 'consistent', 1]),
    );
    assert.equal(ratingQueries, 1);
  });

  it('shares one poll among every waiting read', async () => {
    progressQueries = 0;
    const reads = Array.from({ length: 50 }, () =>
      read({ 'x-consistency-token': token(['ratings', 1, 500]), 'x-consistency-wait': '200' }),
    );
    await Promise.all(reads);
    // 50 reads polling on their own every 5 ms for 200 ms would be ~2,000 queries.
    assert.ok(progressQueries <= 60, `${progressQueries} progress queries`);
  });

  for (const [name, headers, field] of [
    ['a token that is not ours', { 'x-consistency-token': 'bm9wZQ' }, 'X-Consistency-Token'],
    ['an empty token', { 'x-consistency-token': '' }, 'X-Consistency-Token'],
    [
      'a wait that is no number',
      { 'x-consistency-token': token(['metadata', 0, 1]), 'x-consistency-wait': 'soon' },
      'X-Consistency-Wait',
    ],
    [
      'a wait over 5 s',
      { 'x-consistency-token': token(['metadata', 0, 1]), 'x-consistency-wait': '5001' },
      'X-Consistency-Wait',
    ],
  ] as const) {
    it(`answers 400 for ${name}`, async () => {
      const response = await read(headers);
      assert.equal(response.statusCode, 400);
      assert.deepEqual(
        response.json<{ errors: Array<{ field: string }> }>().errors.map((e) => e.field),
        [field],
      );
    });
  }
});

describe('query API: announcements heard while it reads the offsets', () => {
  it('keeps them, though the read that was under way when they came shows less', async (t) => {
    const db = await createTestDatabase();
    const pool = createPool(db.url, 3, quietLogger());
    const app = testQueryApp(pool, db.url);
    const blocker = await pool.connect();
    t.after(async () => {
      blocker.release();
      await app.close();
      await pool.end();
      await db.drop();
    });
    const read = (offset: number) =>
      app.inject({
        method: 'GET',
        url: '/v1/movies',
        headers: {
          'x-consistency-token': encodeConsistencyToken([{ topic: 'ratings', partition: 1, offset }]),
          'x-consistency-wait': '300',
        },
      });
    await pool.query(
      `INSERT INTO ratings.projection_offsets (topic, partition, next_offset) VALUES ('ratings', 1, 10)`,
    );
    assert.equal((await read(9)).headers['x-consistency'], 'consistent');
    await eventually(async () => assert.equal((await listeners(pool)).length, 1), 3000, 20);

    // The next read of the offsets waits on this lock; meanwhile an announcement says 40.
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE ratings.projection_offsets IN ACCESS EXCLUSIVE MODE');
    await withTransaction(pool, announce);
    await eventually(
      async () => {
        const { rows } = await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'ratings.projection_offsets'::regclass`,
        );
        assert.equal(rows[0]!.n, 1);
      },
      3000,
      10,
    );
    await withTransaction(pool, (client) => announceOffsets(client, 'ratings', 'ratings', [[1, 40]]));
    assert.equal((await read(39)).headers['x-consistency'], 'consistent');

    // The read goes on and finds 10, which was true when it began: 40 came later, and stays.
    await blocker.query('ROLLBACK');
    await eventually(
      async () => {
        const { rows } = await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'ratings.projection_offsets'::regclass`,
        );
        assert.equal(rows[0]!.n, 0);
      },
      3000,
      10,
    );
    assert.equal((await read(39)).headers['x-consistency'], 'consistent');
  });
});

describe('query API: command status', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: FastifyInstance;
  const ids = {
    applied: TEST_SEAL.seal(newEventId()),
    rejected: TEST_SEAL.seal(newEventId()),
    deadLettered: TEST_SEAL.seal(newEventId()),
    parked: TEST_SEAL.seal(newEventId()),
  };

  before(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, 2, quietLogger());
    app = testQueryApp(pool, db.url);
    await pool.query(
      `INSERT INTO movie_details.event_outcomes (event_id, status, reason, topic, partition, "offset") VALUES
         ($1, 'applied', NULL, 'metadata', 0, 1), ($2, 'rejected', 'version_conflict', 'metadata', 0, 2)`,
      [ids.applied, ids.rejected],
    );
    await pool.query(
      `INSERT INTO ratings.event_outcomes (event_id, status, reason, topic, partition, "offset") VALUES
         ($1, 'dead_lettered', 'invalid_event', 'ratings', 1, 7), ($2, 'parked', 'key parked after offset 7', 'ratings', 1, 8)`,
      [ids.deadLettered, ids.parked],
    );
  });
  after(async () => {
    await app.close();
    await pool.end();
    await db.drop();
  });

  const status = (id: string) => app.inject({ method: 'GET', url: `/v1/commands/${id}` });

  it('answers each outcome the projections recorded, with its reason', async () => {
    assert.deepEqual((await status(ids.applied)).json(), { eventId: ids.applied, status: 'applied', reason: null });
    assert.deepEqual((await status(ids.rejected)).json(), {
      eventId: ids.rejected,
      status: 'rejected',
      reason: 'version_conflict',
    });
    assert.deepEqual((await status(ids.deadLettered)).json(), {
      eventId: ids.deadLettered,
      status: 'dead_lettered',
      reason: 'invalid_event',
    });
    assert.deepEqual((await status(ids.parked.toUpperCase())).json(), {
      eventId: ids.parked,
      status: 'parked',
      reason: 'key parked after offset 7',
    });
  });

  it('answers pending for an id the command API answered that no projection has dealt with yet', async () => {
    const accepted = TEST_SEAL.seal(newEventId());
    assert.deepEqual((await status(accepted)).json(), { eventId: accepted, status: 'pending' });
  });

  const statuses = (body: unknown, contentType = 'application/json') =>
    app.inject({
      method: 'POST',
      url: '/v1/commands/status',
      headers: { 'content-type': contentType },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('answers the status of many events in one call, in the order asked, with a count of each status', async () => {
    const pending = TEST_SEAL.seal(newEventId());
    const unknown = newEventId();
    const response = await statuses({
      eventIds: [ids.parked, ids.applied, pending, ids.rejected.toUpperCase(), unknown, ids.deadLettered, ids.applied],
    });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), {
      items: [
        { eventId: ids.parked, status: 'parked', reason: 'key parked after offset 7' },
        { eventId: ids.applied, status: 'applied', reason: null },
        { eventId: pending, status: 'pending' },
        { eventId: ids.rejected, status: 'rejected', reason: 'version_conflict' },
        { eventId: unknown, status: 'unknown' },
        { eventId: ids.deadLettered, status: 'dead_lettered', reason: 'invalid_event' },
        { eventId: ids.applied, status: 'applied', reason: null },
      ],
      counts: { pending: 1, applied: 2, rejected: 1, dead_lettered: 1, parked: 1, unknown: 1 },
    });
  });

  it("answers a bulk command's thousand events in one call", async () => {
    const eventIds = Array.from({ length: 1000 }, () => TEST_SEAL.seal(newEventId()));
    const response = await statuses({ eventIds });
    assert.equal(response.statusCode, 200);
    assert.equal(response.json<{ counts: { pending: number } }>().counts.pending, 1000);
  });

  for (const [name, body, fields] of [
    ['no ids', { eventIds: [] }, ['eventIds']],
    ['over a thousand ids', { eventIds: Array.from({ length: 1001 }, () => newEventId()) }, ['eventIds']],
    ['an id that is no event id', { eventIds: [newEventId(), 'nope', 7] }, ['eventIds.1', 'eventIds.2']],
    ['a field it does not know', { eventIds: [newEventId()], all: true }, ['all']],
    ['no list', {}, ['eventIds']],
  ] as const) {
    it(`answers 400 naming the fields for ${name}`, async () => {
      const response = await statuses(body);
      assert.equal(response.statusCode, 400);
      assert.deepEqual(
        response.json<{ errors: Array<{ field: string }> }>().errors.map((e) => e.field),
        fields,
      );
    });
  }

  it('answers a body that is not JSON with a problem, never a 500', async () => {
    assert.equal((await statuses('{"eventIds": [', 'application/json')).statusCode, 400);
    const text = await statuses('eventIds=1', 'text/plain');
    assert.equal(text.statusCode, 415);
    assert.equal(text.headers['content-type'], 'application/problem+json; charset=utf-8');
  });

  it('answers 404 for an id nobody accepted, and 400 for one that is no event id', async () => {
    const unsealed = newEventId();
    const notFound = await status(unsealed);
    assert.equal(notFound.statusCode, 404);
    assert.equal(notFound.json<{ type: string }>().type, 'urn:movie-catalogue:problem:not-found');
    const otherSecret = createEventIdSeal('another-secret-another-secret-another').seal(newEventId());
    assert.equal((await status(otherSecret)).statusCode, 404);
    for (const bad of ['nope', '00000000-0000-0000-0000-00000000000g', `${ids.applied}0`]) {
      assert.equal((await status(bad)).statusCode, 400, bad);
    }
  });
});

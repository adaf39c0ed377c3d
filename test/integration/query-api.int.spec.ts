import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildQueryApp } from '../../query-api/app.ts';
import { createPool, type Pool } from '../../shared/db/pool.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { createTestDatabase, quietLogger, type TestDatabase } from '../support/services.ts';

/** The query API over a real read model, rows written as the projector writes them. */
describe('query API', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: FastifyInstance;

  before(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, 2, quietLogger());
    app = buildQueryApp({ logger: quietLogger(), metrics: createMetrics('query-api'), pool });
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

  const get = (id: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url: `/v1/movies/${id}`, headers });

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
    ['an id that cannot exist', 'not%20an%20id'],
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

  it('reports ready while Postgres answers', async () => {
    const response = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.deepEqual(response.json(), { status: 'ready', checks: { postgres: 'ok' } });
  });
});

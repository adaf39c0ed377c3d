import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { clusterDatabase, type ClusterDatabase } from '../../infra/cluster/database.ts';
import { ensureClusterTls } from '../../infra/cluster/tls.ts';
import { dataPath } from '../../infra/paths.ts';
import { relocatedHome } from '../../infra/postgres-home.ts';
import { buildQueryApp } from '../../query-api/app.ts';
import { createProgressWatcher } from '../../query-api/progress.ts';
import { pgConnection } from '../../shared/db/connection.ts';
import { createPool, type Pool } from '../../shared/db/pool.ts';
import { createEventIdSeal } from '../../shared/events/event-id.ts';
import { encodeConsistencyToken } from '../../shared/events/position.ts';
import { PROGRESS_CHANNEL } from '../../shared/read-models.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { freePort, quietLogger, uniqueName } from '../../harness/services.ts';

/** The SQLSTATE a statement or a connection failed with, or 'ok'. */
async function outcome(url: string, sql: string): Promise<string> {
  const client = new pg.Client(pgConnection(url));
  try {
    await client.connect();
    await client.query(sql);
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The production shape's Postgres, as `npm start -- --cluster` runs it, in a folder and on ports
 * of its own: every refusal is the server's answer.
 */
describe('production-shape Postgres', () => {
  const dir = dataPath('test', uniqueName('database'));
  let database: ClusterDatabase;
  let urls: Record<string, string>;
  before(async () => {
    const tls = ensureClusterTls(`${dir}/tls`);
    database = clusterDatabase(`${dir}/postgres`, { primary: await freePort(), standby: await freePort() }, tls);
    await database.primary.start();
    await database.prepare(quietLogger());
    await database.standby.start();
    const read = (file: string | undefined) => readFileSync(file!, 'utf8');
    urls = {
      'command-api': read(database.envFor('command-api').DATABASE_URL_FILE),
      projectors: read(database.envFor('projectors').DATABASE_URL_FILE),
      'query-api': read(database.envFor('query-api').DATABASE_URL_FILE),
      'query-api-standby': read(database.envFor('query-api').QUERY_DATABASE_URL_FILE),
    };
  });
  after(async () => {
    await database?.standby.stop();
    await database?.primary.stop();
    for (const folder of [`${dir}/postgres/primary`, `${dir}/postgres/standby`])
      rmSync(relocatedHome(folder), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a client without TLS, and checks the server as verify-full', async () => {
    const plain = new URL(urls['query-api']!);
    plain.search = 'sslmode=disable';
    assert.equal(await outcome(plain.toString(), 'SELECT 1'), '28000');
    assert.equal(await outcome(urls['query-api']!, 'SELECT 1'), 'ok');
  });

  it('lets the query API role read the read models and nothing more', async () => {
    const url = urls['query-api']!;
    assert.equal(await outcome(url, 'SELECT * FROM movie_details.movies, ratings.rating_aggregates LIMIT 1'), 'ok');
    assert.equal(
      await outcome(url, `INSERT INTO movie_details.movies VALUES ('tt1', 'T', '', 'D', NULL, '[]', 1, now())`),
      '42501',
    );
    assert.equal(await outcome(url, 'SELECT * FROM commands.idempotency_keys LIMIT 1'), '42501');
    assert.equal(await outcome(url, 'CREATE TABLE movie_details.mine (id int)'), '42501');
    assert.equal(await outcome(urls['command-api']!, 'SELECT * FROM ratings.rating_aggregates LIMIT 1'), '42501');
    assert.equal(await outcome(urls['projectors']!, 'SELECT * FROM commands.idempotency_keys LIMIT 1'), '42501');
  });

  describe('a query API reading the standby', () => {
    let primary: Pool;
    let reads: Pool;
    const seal = createEventIdSeal('standby-test-event-id-secret-long-enough');
    before(() => {
      primary = createPool(urls['projectors']!, 2, quietLogger());
      reads = createPool(urls['query-api-standby']!, 4, quietLogger(), {
        statementTimeoutMs: 1000,
        connectTimeoutMs: 1000,
      });
    });
    after(async () => {
      await primary.end();
      await reads.end();
    });

    const app = () =>
      buildQueryApp({
        logger: quietLogger(),
        metrics: createMetrics('query-api'),
        pool: reads,
        progress: createProgressWatcher(reads, urls['query-api']!, quietLogger(), { standby: true }),
        eventIdSeal: seal,
      });

    it('answers a read with a consistency token only once the standby has replayed the write', async (t) => {
      const query = app();
      t.after(() => query.close());
      await query.ready();
      for (let n = 0; n < 20; n++) {
        const movieId = `standby-${n}`;
        const client = await primary.connect();
        try {
          await client.query('BEGIN');
          await client.query(`INSERT INTO movie_details.movies VALUES ($1, 'Title', '', 'D', NULL, '[]', 1, now())`, [
            movieId,
          ]);
          await client.query(
            `INSERT INTO movie_details.projection_offsets (topic, partition, next_offset) VALUES ('standby-test', 0, $1)
             ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset`,
            [n + 1],
          );
          await client.query(`SELECT pg_notify($1, '')`, [PROGRESS_CHANNEL]);
          await client.query('COMMIT');
        } finally {
          client.release();
        }
        const token = encodeConsistencyToken([{ topic: 'standby-test', partition: 0, offset: n }]);
        const response = await query.inject({
          url: `/v1/movies/${movieId}`,
          headers: { 'x-consistency-token': token },
        });
        assert.deepEqual([response.statusCode, response.headers['x-consistency']], [200, 'consistent'], `write ${n}`);
      }
    });

    it('answers 503 while the standby is down, never a stale answer said to be consistent', async (t) => {
      const query = app();
      t.after(() => query.close());
      await query.ready();
      await database.standby.stop();
      t.after(() => database.standby.start());
      const token = encodeConsistencyToken([{ topic: 'standby-test', partition: 0, offset: 10_000 }]);
      for (const headers of [{}, { 'x-consistency-token': token }]) {
        const response = await query.inject({ url: '/v1/movies/standby-1', headers });
        assert.equal(response.statusCode, 503, JSON.stringify(headers));
      }
    });
  });
});

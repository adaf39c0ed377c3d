import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Partitioners } from 'kafkajs';
import { createIdempotencyStore } from '../../command-api/idempotency-store.ts';
import { createPool } from '../../shared/db/pool.ts';
import { HEADERS } from '../../shared/kafka/wire.ts';
import { quietLogger } from '../../harness/services.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { endOffsets, readEvents, recordCount } from '../support/topic-log.ts';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

/**
 * The command API against real Kafka, registry and Postgres (no projector): what each command
 * writes to the log, that every refusal writes nothing, and Idempotency-Key across instances.
 */
describe('command API, against the real log and database', () => {
  let system: TestSystem;
  let topics: string[];
  before(async () => {
    system = await startSystem({ projector: false });
    topics = [system.topics.movieMetadata, system.topics.movieRatings];
  });
  after(() => system?.stop());

  async function send(
    method: string,
    path: string,
    options: { sub?: string; roles?: string[]; body?: unknown; headers?: Record<string, string>; url?: string } = {},
  ): Promise<Answer> {
    const { sub = 'alice', roles = ['user'], body, headers = {}, url = system.commandUrl } = options;
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${system.token(sub, roles)}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: JSON.parse(text) as Record<string, unknown>,
      text,
    };
  }

  const metadata = {
    title: 'Heat',
    description: 'LA crime saga',
    director: 'Michael Mann',
    year: 1995,
    actors: ['Al Pacino', 'Robert De Niro'],
  };

  it('lands each command as one decodable event with the movie as key, on the partition it answers, with its headers', async () => {
    const partitionOf = Partitioners.DefaultPartitioner();
    const set = await send('POST', '/v1/movies/tt0113277/metadata', {
      sub: 'ada',
      roles: ['admin'],
      body: metadata,
      headers: { 'x-correlation-id': 'trace-1' },
    });
    const rated = await send('POST', '/v1/movies/tt0113277/ratings', { body: { value: 4 } });
    const deleted = await send('DELETE', '/v1/movies/tt0113277/ratings');
    const bulk = await send('POST', '/v1/ratings/batch', {
      sub: 'feed',
      roles: ['provider'],
      body: {
        providerId: 'imdb',
        ratings: [
          { movieId: 'tt1', userId: 'u1', value: 5 },
          { movieId: 'tt2', userId: 'u2', value: 1 },
        ],
      },
    });
    for (const answer of [set, rated, deleted, bulk]) assert.equal(answer.status, 202, JSON.stringify(answer.body));

    const logged = [
      ...(await readEvents(system.kafka, system.topics.movieMetadata)),
      ...(await readEvents(system.kafka, system.topics.movieRatings)),
    ];
    const byId = new Map(logged.map((l) => [l.event.envelope.eventId, l]));
    assert.equal(logged.length, 5);
    const expectations: Array<[unknown, string, string]> = [
      [set.body.eventId, 'tt0113277', 'MovieMetadataSet'],
      [rated.body.eventId, 'tt0113277', 'RatingSubmitted'],
      [deleted.body.eventId, 'tt0113277', 'RatingDeleted'],
      [(bulk.body.eventIds as string[])[0], 'tt1', 'RatingSubmitted'],
      [(bulk.body.eventIds as string[])[1], 'tt2', 'RatingSubmitted'],
    ];
    const positions = [
      set.body.position,
      rated.body.position,
      deleted.body.position,
      ...(bulk.body.positions as unknown[]),
    ];
    expectations.forEach(([eventId, key, type], i) => {
      const l = byId.get(eventId as string);
      assert.ok(l, `event ${String(eventId)} is in the log`);
      assert.equal(l.key, key);
      assert.equal(l.event.type, type);
      assert.deepEqual({ topic: l.topic, partition: l.partition, offset: l.offset }, positions[i]);
      assert.equal(
        l.partition,
        partitionOf({
          topic: l.topic,
          partitionMetadata: [0, 1, 2].map((p) => ({
            partitionId: p,
            leader: 0,
            partitionErrorCode: 0,
            replicas: [0],
            isr: [0],
          })),
          message: { key, value: null },
        }),
      );
      assert.deepEqual(l.headers, {
        [HEADERS.eventType]: type,
        [HEADERS.schemaVersion]: type === 'RatingDeleted' ? '1' : '2',
      });
    });
    assert.equal(byId.get(set.body.eventId as string)!.event.envelope.correlationId, 'trace-1');
    const metadataEvent = byId.get(set.body.eventId as string)!.event;
    assert.deepEqual(metadataEvent.type === 'MovieMetadataSet' && { ...metadataEvent, envelope: undefined }, {
      type: 'MovieMetadataSet',
      envelope: undefined,
      movieId: 'tt0113277',
      ...metadata,
      expectedVersion: null,
    });
    const bulkEvent = byId.get((bulk.body.eventIds as string[])[0]!)!.event;
    assert.equal(bulkEvent.type === 'RatingSubmitted' && bulkEvent.providerId, 'imdb');
  });

  it('appends nothing for any refused command', async () => {
    // The read model shows the movie at version 3, as the projector would have left it.
    await system.pool
      .query(`INSERT INTO movie_details.movies (movie_id, title, description, director, year, actors, version, updated_at)
                             VALUES ('tt-v3', 'T', '', 'D', NULL, '{}', 3, now())`);
    const keyed = await send('POST', '/v1/movies/m-keyed/ratings', {
      body: { value: 3 },
      headers: { 'idempotency-key': 'reused-key' },
    });
    assert.equal(keyed.status, 202);

    const before = await endOffsets(system.kafka, topics);
    const refusals: Array<[string, () => Promise<Answer | { status: number }>, number]> = [
      ['a bad body', () => send('POST', '/v1/movies/m1/ratings', { body: { value: 9 } }), 400],
      ['malformed JSON', () => send('POST', '/v1/movies/m1/ratings', { body: '{"value":' }), 400],
      [
        'no token',
        () =>
          fetch(`${system.commandUrl}/v1/movies/m1/ratings`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"value":4}',
          }),
        401,
      ],
      ['a wrong role', () => send('POST', '/v1/movies/m1/metadata', { body: metadata }), 403],
      [
        'an oversized body',
        () =>
          send('POST', '/v1/movies/m1/metadata', {
            sub: 'ada',
            roles: ['admin'],
            body: { ...metadata, description: 'x'.repeat(2 * 1024 * 1024) },
          }),
        413,
      ],
      [
        'a stale If-Match',
        () =>
          send('POST', '/v1/movies/tt-v3/metadata', {
            sub: 'ada',
            roles: ['admin'],
            body: metadata,
            headers: { 'if-match': '"2"' },
          }),
        412,
      ],
      [
        'If-Match "0" for an existing movie',
        () =>
          send('POST', '/v1/movies/tt-v3/metadata', {
            sub: 'ada',
            roles: ['admin'],
            body: metadata,
            headers: { 'if-match': '"0"' },
          }),
        412,
      ],
      [
        'an unreadable If-Match',
        () =>
          send('POST', '/v1/movies/tt-v3/metadata', {
            sub: 'ada',
            roles: ['admin'],
            body: metadata,
            headers: { 'if-match': 'W/"3"' },
          }),
        400,
      ],
      [
        'a reused Idempotency-Key with another body',
        () =>
          send('POST', '/v1/movies/m-keyed/ratings', {
            body: { value: 4 },
            headers: { 'idempotency-key': 'reused-key' },
          }),
        409,
      ],
      [
        'a reused Idempotency-Key on another path',
        () =>
          send('POST', '/v1/movies/m-other/ratings', {
            body: { value: 3 },
            headers: { 'idempotency-key': 'reused-key' },
          }),
        409,
      ],
      [
        'a malformed Idempotency-Key',
        () =>
          send('POST', '/v1/movies/m1/ratings', {
            body: { value: 3 },
            headers: { 'idempotency-key': 'k'.repeat(256) },
          }),
        400,
      ],
    ];
    for (const [name, request, status] of refusals) {
      const answer = await request();
      assert.equal(answer.status, status, name);
    }
    assert.deepEqual(await endOffsets(system.kafka, topics), before);

    const stale = await send('POST', '/v1/movies/tt-v3/metadata', {
      sub: 'ada',
      roles: ['admin'],
      body: metadata,
      headers: { 'if-match': '"2"' },
    });
    assert.equal(stale.body.type, 'urn:movie-catalogue:problem:version-mismatch');
    assert.match(String(stale.body.detail), /expected version 2, but the movie is at version 3/);
    const reused = await send('POST', '/v1/movies/m-keyed/ratings', {
      body: { value: 4 },
      headers: { 'idempotency-key': 'reused-key' },
    });
    assert.equal(reused.body.type, 'urn:movie-catalogue:problem:idempotency-key-reused');
  });

  it('appends nothing for a rate-limited command', async () => {
    const limited = await system.startCommandApi({ rateLimit: { max: 2, windowMs: 60_000 } });
    for (let i = 0; i < 2; i++)
      assert.equal(
        (await send('POST', '/v1/movies/limited/ratings', { sub: 'eager', body: { value: 1 }, url: limited })).status,
        202,
      );
    const before = await endOffsets(system.kafka, topics);
    const refused = await send('POST', '/v1/movies/limited/ratings', {
      sub: 'eager',
      body: { value: 1 },
      url: limited,
    });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.deepEqual(await endOffsets(system.kafka, topics), before);
  });

  it('accepts a matching If-Match and writes the expected version into the event', async () => {
    await system.pool
      .query(`INSERT INTO movie_details.movies (movie_id, title, description, director, year, actors, version, updated_at)
                             VALUES ('tt-match', 'T', '', 'D', NULL, '{}', 5, now())`);
    const matching = await send('POST', '/v1/movies/tt-match/metadata', {
      sub: 'ada',
      roles: ['admin'],
      body: metadata,
      headers: { 'if-match': '"5"' },
    });
    const fresh = await send('POST', '/v1/movies/tt-new/metadata', {
      sub: 'ada',
      roles: ['admin'],
      body: metadata,
      headers: { 'if-match': '"0"' },
    });
    assert.equal(matching.status, 202);
    assert.equal(fresh.status, 202);
    const events = new Map(
      (await readEvents(system.kafka, system.topics.movieMetadata)).map((l) => [l.event.envelope.eventId, l.event]),
    );
    const expected = (id: unknown) => {
      const e = events.get(id as string);
      return e?.type === 'MovieMetadataSet' ? e.expectedVersion : undefined;
    };
    assert.equal(expected(matching.body.eventId), 5);
    assert.equal(expected(fresh.body.eventId), 0);
  });

  it('gives a key back when its first attempt is refused by If-Match, so the corrected request can use it', async () => {
    await system.pool
      .query(`INSERT INTO movie_details.movies (movie_id, title, description, director, year, actors, version, updated_at)
                             VALUES ('tt-keyed', 'T', '', 'D', NULL, '{}', 2, now())`);
    const before = await endOffsets(system.kafka, topics);
    const stale = await send('POST', '/v1/movies/tt-keyed/metadata', {
      sub: 'ada',
      roles: ['admin'],
      body: metadata,
      headers: { 'if-match': '"1"', 'idempotency-key': 'edit-1' },
    });
    assert.equal(stale.status, 412);
    assert.deepEqual(await endOffsets(system.kafka, topics), before);
    const { rows } = await system.pool.query(
      `SELECT 1 FROM commands.idempotency_keys WHERE idempotency_key = 'edit-1'`,
    );
    assert.equal(rows.length, 0, 'the refused attempt keeps no key');
    // Another request with the key is a first attempt, not a conflict.
    const corrected = await send('POST', '/v1/movies/tt-keyed/metadata', {
      sub: 'ada',
      roles: ['admin'],
      body: metadata,
      headers: { 'if-match': '"2"', 'idempotency-key': 'edit-1' },
    });
    assert.equal(corrected.status, 202);
    assert.equal(corrected.headers.get('idempotent-replayed'), null);
  });

  it('answers a retry with the same key the same, from any instance, and writes nothing more', async () => {
    const second = await system.startCommandApi();
    const body = {
      providerId: 'imdb',
      ratings: [
        { movieId: 'k1', userId: 'u1', value: 5 },
        { movieId: 'k2', userId: 'u1', value: 2 },
      ],
    };
    const first = await send('POST', '/v1/ratings/batch', {
      sub: 'feed',
      roles: ['provider'],
      body,
      headers: { 'idempotency-key': 'import-2026-12-01' },
    });
    assert.equal(first.status, 202);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    const count = await recordCount(system.kafka, topics);

    const retry = await send('POST', '/v1/ratings/batch', {
      sub: 'feed',
      roles: ['provider'],
      body,
      headers: { 'idempotency-key': 'import-2026-12-01' },
      url: second,
    });
    assert.equal(retry.status, 202);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.equal(retry.text, first.text, 'the very same answer, byte for byte');
    assert.equal(await recordCount(system.kafka, topics), count);

    // Another principal's key of the same name is its own.
    const other = await send('POST', '/v1/ratings/batch', {
      sub: 'other-feed',
      roles: ['provider'],
      body,
      headers: { 'idempotency-key': 'import-2026-12-01' },
      url: second,
    });
    assert.equal(other.status, 202);
    assert.notDeepEqual(other.body.eventIds, first.body.eventIds);
  });

  it('gives concurrent attempts with one key, on two instances, the same event ids', async () => {
    const second = await system.startCommandApi();
    const attempts = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        send('POST', '/v1/movies/race/ratings', {
          sub: 'racer',
          body: { value: 2 },
          headers: { 'idempotency-key': 'race-key' },
          url: i % 2 ? second : system.commandUrl,
        }),
      ),
    );
    for (const a of attempts) assert.equal(a.status, 202, JSON.stringify(a.body));
    assert.equal(new Set(attempts.map((a) => a.body.eventId)).size, 1);
    assert.equal(attempts.filter((a) => a.headers.get('idempotent-replayed') === null).length, 1, 'one first attempt');
    // Attempts that found the key taken but not yet answered wrote the same event again: every
    // copy has the one event id, which the projections count once.
    const copies = (await readEvents(system.kafka, system.topics.movieRatings)).filter((l) => l.key === 'race');
    assert.ok(copies.length >= 1 && copies.length <= 12);
    assert.deepEqual(new Set(copies.map((c) => c.event.envelope.eventId)), new Set([attempts[0]!.body.eventId]));
  });

  it('treats an expired key as new, and sweeps expired keys away', async () => {
    const first = await send('POST', '/v1/movies/exp/ratings', {
      body: { value: 1 },
      headers: { 'idempotency-key': 'short-lived' },
    });
    await system.pool.query(
      `UPDATE commands.idempotency_keys SET expires_at = now() - interval '1 second' WHERE idempotency_key = 'short-lived'`,
    );
    const reused = await send('POST', '/v1/movies/exp/ratings', {
      body: { value: 5 },
      headers: { 'idempotency-key': 'short-lived' },
    });
    assert.equal(reused.status, 202);
    assert.equal(reused.headers.get('idempotent-replayed'), null);
    assert.notEqual(reused.body.eventId, first.body.eventId);

    await system.pool.query(
      `UPDATE commands.idempotency_keys SET expires_at = now() - interval '1 second' WHERE idempotency_key = 'short-lived'`,
    );
    const store = createIdempotencyStore(system.pool, 3600, quietLogger());
    assert.ok((await store.sweep()) >= 1);
    const { rows } = await system.pool.query(
      `SELECT 1 FROM commands.idempotency_keys WHERE idempotency_key = 'short-lived'`,
    );
    assert.equal(rows.length, 0);
  });

  it('answers 503 and writes nothing for a keyed command while Postgres is unreachable; unkeyed commands go on', async () => {
    const deadPool = createPool('postgres://nobody:nothing@127.0.0.1:1/none', 1, quietLogger(), {
      statementTimeoutMs: 500,
      connectTimeoutMs: 500,
    });
    after(() => deadPool.end());
    const cutOff = await system.startCommandApi({
      idempotency: () => createIdempotencyStore(deadPool, 3600, quietLogger()),
    });
    const before = await recordCount(system.kafka, topics);
    const keyed = await send('POST', '/v1/movies/pg-down/ratings', {
      body: { value: 3 },
      headers: { 'idempotency-key': 'while-down' },
      url: cutOff,
    });
    assert.equal(keyed.status, 503);
    assert.equal(keyed.headers.get('retry-after'), '1');
    assert.match(String(keyed.body.detail), /nothing was written/);
    assert.equal(await recordCount(system.kafka, topics), before);
    const unkeyed = await send('POST', '/v1/movies/pg-down/ratings', { body: { value: 3 }, url: cutOff });
    assert.equal(unkeyed.status, 202);
  });
});

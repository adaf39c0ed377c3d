import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../../harness/eventually.ts';
import { startSystem } from '../support/system.ts';

/**
 * The book's flow over HTTP, through Kafka, the registry and Postgres: commands are accepted,
 * projected, and read back from the query API.
 */
describe('movie catalogue, end to end', () => {
  let system: Awaited<ReturnType<typeof startSystem>>;
  before(async () => {
    system = await startSystem();
  });
  after(() => system?.stop());

  const movieId = 'tt0111161';
  const metadata = {
    title: 'The Shawshank Redemption',
    description: 'Two imprisoned men bond over a number of years.',
    director: 'Frank Darabont',
    year: 1994,
    actors: ['Tim Robbins', 'Morgan Freeman'],
  };

  async function command(path: string, body: unknown, sub: string, roles: string[], method = 'POST') {
    const response = await fetch(`${system.commandUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${system.token(sub, roles)}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    assert.equal(response.status, 202, await response.clone().text());
    return (await response.json()) as {
      eventId: string;
      position: { topic: string; partition: number; offset: number };
      consistencyToken: string;
    };
  }

  const rate = (sub: string, value: number) => command(`/v1/movies/${movieId}/ratings`, { value }, sub, ['user']);

  async function details() {
    const response = await fetch(`${system.queryUrl}/v1/movies/${movieId}`);
    assert.equal(response.status, 200);
    return (await response.json()) as Record<string, unknown> & { rating: { average: number; count: number } | null };
  }

  /** Polls the details until they show `rating`, then returns them. */
  const detailsWithRating = (rating: { average: number; count: number } | null) =>
    eventually(async () => {
      const body = await details();
      assert.deepEqual(body.rating, rating);
      return body;
    });

  it('walks the flow: metadata, ratings, aggregate, re-rating', async () => {
    const accepted = await command(`/v1/movies/${movieId}/metadata`, metadata, 'admin-1', ['admin']);
    assert.match(accepted.eventId, /^[0-9a-f-]{36}$/);
    assert.equal(accepted.position.topic.startsWith('test-metadata-'), true);
    assert.equal(typeof accepted.consistencyToken, 'string');

    const unrated = await detailsWithRating(null);
    assert.deepEqual(
      { ...unrated, updatedAt: undefined },
      { movieId, ...metadata, rating: null, version: 1, updatedAt: undefined },
    );

    await rate('alice', 5);
    await detailsWithRating({ average: 5, count: 1 });

    await rate('bob', 1);
    const rated = await detailsWithRating({ average: 3, count: 2 });
    assert.equal(rated.title, metadata.title);

    // Alice changes her mind: her 5 is replaced, not added.
    await rate('alice', 3);
    await detailsWithRating({ average: 2, count: 2 });
  });

  it('answers 404 for a movie without metadata, even when it has ratings', async () => {
    // The rating lands in the read model, yet the details of a movie without metadata do not exist.
    const unknown = 'tt-no-metadata';
    await command(`/v1/movies/${unknown}/ratings`, { value: 4 }, 'carol', ['user']);
    await eventually(async () => {
      const { rows } = await system.pool.query('SELECT count FROM ratings.rating_aggregates WHERE record_id = $1', [
        unknown,
      ]);
      assert.deepEqual(rows, [{ count: 1 }]);
    });
    const response = await fetch(`${system.queryUrl}/v1/movies/${unknown}`);
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  });

  it('serves an ETag that follows metadata and rating, with 304 for a matching If-None-Match', async () => {
    const movie = 'tt0068646';
    await command(`/v1/movies/${movie}/metadata`, { ...metadata, title: 'The Godfather' }, 'admin-1', ['admin']);
    const etag = await eventually(async () => {
      const response = await fetch(`${system.queryUrl}/v1/movies/${movie}`);
      assert.equal(response.status, 200);
      return response.headers.get('etag');
    });
    assert.equal(etag, '"1.0.0"');
    const cached = await fetch(`${system.queryUrl}/v1/movies/${movie}`, { headers: { 'if-none-match': etag } });
    assert.equal(cached.status, 304);

    // A rating changes the answer, so the old tag no longer matches.
    await command(`/v1/movies/${movie}/ratings`, { value: 4 }, 'dora', ['user']);
    await eventually(async () => {
      const response = await fetch(`${system.queryUrl}/v1/movies/${movie}`, { headers: { 'if-none-match': etag } });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('etag'), '"1.1.4"');
    });
  });

  it("takes back a user's rating, and imports a provider's ratings in bulk", async () => {
    const movie = 'tt0110912';
    await command(`/v1/movies/${movie}/metadata`, { ...metadata, title: 'Pulp Fiction' }, 'admin-1', ['admin']);
    await command(`/v1/movies/${movie}/ratings`, { value: 2 }, 'auth0|erin', ['user']);
    const bulk = (await command(
      '/v1/ratings/batch',
      {
        providerId: 'imdb-feed',
        ratings: [
          { movieId: movie, userId: 'frank@example.com', value: 5 },
          { movieId: movie, userId: 'gina', value: 4 },
          { movieId: 'tt0000001', userId: 'gina', value: 1 },
        ],
      },
      'feed-bot',
      ['provider'],
    )) as unknown as { eventIds: string[]; positions: Array<{ partition: number }>; consistencyToken: string };
    assert.equal(bulk.eventIds.length, 3);
    assert.equal(new Set(bulk.eventIds).size, 3);
    assert.equal(bulk.positions.length, 3);
    // Every event of the import in one call; with the import's token, all of them are applied.
    const statuses = await fetch(`${system.queryUrl}/v1/commands/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-consistency-token': bulk.consistencyToken },
      body: JSON.stringify({ eventIds: bulk.eventIds }),
    });
    assert.equal(statuses.headers.get('x-consistency'), 'consistent');
    assert.deepEqual(
      ((await statuses.json()) as { items: Array<{ eventId: string; status: string }> }).items.map((i) => [
        i.eventId,
        i.status,
      ]),
      bulk.eventIds.map((id) => [id, 'applied']),
    );
    await eventually(async () => {
      const response = await fetch(`${system.queryUrl}/v1/movies/${movie}`);
      assert.deepEqual(((await response.json()) as { rating: unknown }).rating, { average: 3.67, count: 3 });
    });

    await command(`/v1/movies/${movie}/ratings`, undefined, 'auth0|erin', ['user'], 'DELETE');
    await eventually(async () => {
      const response = await fetch(`${system.queryUrl}/v1/movies/${movie}`);
      assert.deepEqual(((await response.json()) as { rating: unknown }).rating, { average: 4.5, count: 2 });
    });
  });
  it('shows a write to a read that carries its consistency token, without polling', async () => {
    const movie = 'tt0133093';
    const created = await command(`/v1/movies/${movie}/metadata`, { ...metadata, title: 'The Matrix' }, 'admin-1', [
      'admin',
    ]);
    const first = await fetch(`${system.queryUrl}/v1/movies/${movie}`, {
      headers: { 'x-consistency-token': created.consistencyToken },
    });
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-consistency'), 'consistent');
    for (let value = 1; value <= 5; value++) {
      const rated = await command(`/v1/movies/${movie}/ratings`, { value }, 'neo', ['user']);
      const response = await fetch(`${system.queryUrl}/v1/movies/${movie}/rating`, {
        headers: { 'x-consistency-token': rated.consistencyToken },
      });
      assert.equal(response.headers.get('x-consistency'), 'consistent');
      assert.deepEqual(await response.json(), {
        average: value,
        count: 1,
        distribution: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0, [String(value)]: 1 },
      });
    }
  });
});

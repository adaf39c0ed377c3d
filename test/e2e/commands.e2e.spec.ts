import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../../harness/eventually.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { readEvents } from '../support/topic-log.ts';

/**
 * Idempotency and optimistic concurrency through to the read models: what a retry or a lost race
 * does to what readers see.
 */
describe('commands, end to end', () => {
  let system: TestSystem;
  before(async () => {
    system = await startSystem();
  });
  after(() => system?.stop());

  const metadata = {
    title: 'Alien',
    description: 'In space no one can hear you scream.',
    director: 'Ridley Scott',
    year: 1979,
    actors: ['Sigourney Weaver'],
  };

  async function setMetadata(url: string, movieId: string, body: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${url}/v1/movies/${movieId}/metadata`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${system.token('ada', ['admin'])}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      replayed: response.headers.get('idempotent-replayed'),
      body: (await response.json()) as { eventId: string; detail?: string },
    };
  }

  const versionOf = async (movieId: string) =>
    (
      await system.pool.query<{ version: number; title: string }>(
        'SELECT version, title FROM movie_details.movies WHERE movie_id = $1',
        [movieId],
      )
    ).rows[0];

  const outcomeOf = async (eventId: string) =>
    (
      await system.pool.query<{ status: string; reason: string | null }>(
        'SELECT status, reason FROM movie_details.event_outcomes WHERE event_id = $1',
        [eventId],
      )
    ).rows[0];

  it('changes the read model once when an instance crashes between the Kafka write and keeping the answer', async () => {
    // This instance writes to Kafka, then "crashes" before it records the answer.
    const crashing = await system.startCommandApi({
      idempotency: (store) => ({ ...store, complete: () => Promise.reject(new Error('process killed')) }),
    });
    const healthy = await system.startCommandApi();
    const first = await setMetadata(crashing, 'tt0078748', metadata, { 'idempotency-key': 'alien-1' });
    assert.equal(first.status, 202);

    const retry = await setMetadata(healthy, 'tt0078748', metadata, { 'idempotency-key': 'alien-1' });
    assert.equal(retry.status, 202);
    assert.equal(retry.replayed, 'true');
    assert.equal(retry.body.eventId, first.body.eventId);

    // Both attempts are in the log; the projection applied one of them.
    const copies = (await readEvents(system.kafka, system.topics.movieMetadata)).filter((l) => l.key === 'tt0078748');
    assert.equal(copies.length, 2);
    await eventually(async () => assert.equal((await outcomeOf(first.body.eventId))?.status, 'applied'));
    await eventually(async () => {
      const { rows } = await system.pool.query<{ next_offset: number }>(
        'SELECT sum(next_offset)::int AS next_offset FROM movie_details.projection_offsets',
      );
      assert.equal(rows[0]!.next_offset, (await readEvents(system.kafka, system.topics.movieMetadata)).length);
    });
    assert.deepEqual(await versionOf('tt0078748'), { version: 1, title: 'Alien' });
  });

  it('refuses a stale If-Match at accept time, and rejects at apply time the loser of a race both sides passed', async () => {
    const movieId = 'tt0090605';
    const created = await setMetadata(system.commandUrl, movieId, metadata, { 'if-match': '"0"' });
    assert.equal(created.status, 202);
    await eventually(async () => assert.equal((await versionOf(movieId))?.version, 1));

    // Both writers read version 1 and both pass the check before either is projected.
    const [a, b] = await Promise.all([
      setMetadata(system.commandUrl, movieId, { ...metadata, title: 'Aliens' }, { 'if-match': '"1"' }),
      setMetadata(system.commandUrl, movieId, { ...metadata, title: 'Alien³' }, { 'if-match': '"1"' }),
    ]);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    await eventually(async () => {
      const outcomes = [await outcomeOf(a.body.eventId), await outcomeOf(b.body.eventId)];
      assert.deepEqual(outcomes.map((o) => o?.status).sort(), ['applied', 'rejected']);
      assert.equal(outcomes.find((o) => o?.status === 'rejected')?.reason, 'version_conflict');
    });
    // What the clients see through the query API.
    const statuses = await Promise.all(
      [a, b].map(
        async (w) =>
          (await (await fetch(`${system.queryUrl}/v1/commands/${w.body.eventId}`)).json()) as {
            status: string;
            reason?: string;
          },
      ),
    );
    assert.deepEqual(statuses.map((s) => s.status).sort(), ['applied', 'rejected']);
    assert.equal(statuses.find((s) => s.status === 'rejected')?.reason, 'version_conflict');
    const winner = (await outcomeOf(a.body.eventId))?.status === 'applied' ? 'Aliens' : 'Alien³';
    assert.deepEqual(await versionOf(movieId), { version: 2, title: winner });

    const stale = await setMetadata(
      system.commandUrl,
      movieId,
      { ...metadata, title: 'Alien Resurrection' },
      { 'if-match': '"1"' },
    );
    assert.equal(stale.status, 412);
    assert.match(stale.body.detail!, /at version 2/);
  });
});

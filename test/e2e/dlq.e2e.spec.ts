import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPool } from '../../shared/db/pool.ts';
import { eventually } from '../support/eventually.ts';
import { outcomes, projectorFixture, rating } from '../support/projector-fixture.ts';
import { startProjectorProcess, startToolProcess } from '../support/projector-process.ts';
import { createTestDatabase, quietLogger, uniqueName } from '../support/services.ts';

/**
 * `npm run dlq` as an operator runs it against what a real projector process dead-lettered and
 * parked: a record a plain Kafka client wrote, and a good event of the same movie behind it.
 */
describe('dead-letter tool', () => {
  it('lists dead letters by class and key, and shows a record decoded or as bytes, with its headers', async (t) => {
    const f = await projectorFixture(t);
    const db = await createTestDatabase();
    const pool = createPool(db.url, 2, quietLogger());
    const settings = { databaseUrl: db.url, topics: f.topics, groupId: uniqueName('group') };
    const projector = startProjectorProcess(settings);
    t.after(async () => {
      await projector.kill('SIGKILL');
      await pool.end();
      await db.drop();
    });
    const topic = f.topics.movieRatings;
    // Keyed like the event behind it, so that both land on one partition.
    await f.produceRaw(topic, { key: 'tt0000042', value: Buffer.from('not avro at all'), headers: { source: 'kcat' } });
    const behind = rating('alice', 'tt0000042', 4);
    await f.publisher.publish(behind);
    await eventually(async () => assert.match((await outcomes(pool, 'ratings'))[behind.envelope.eventId] ?? '', /^parked/), 60_000);
    const run = async (...args: string[]) => {
      const tool = startToolProcess('dlq', args, settings);
      return { code: await tool.exited, output: tool.output() };
    };

    const listed = await run('list');
    assert.equal(listed.code, 0);
    assert.match(listed.output, /ratings: 1 dead letter, 1 parking their key/);
    assert.match(listed.output, /not_avro +1 +1/);
    const position = new RegExp(`${topic}/(\\d+)@(\\d+) +tt0000042 +not_avro .*\\[key parked\\] value is not in the Confluent wire format`);
    const [, partition, offset] = position.exec(listed.output) ?? [];
    assert.ok(partition !== undefined && offset !== undefined, listed.output);
    assert.match((await run('list', '--code', 'not_avro', '--key', 'tt0000042', '--projection', 'ratings')).output, position);
    assert.match((await run('list', '--code', 'invalid_event')).output, /no dead letters match/);
    assert.match((await run('list', '--since', new Date(Date.now() + 60_000).toISOString())).output, /no dead letters match/);

    const shown = await run('show', topic, partition, offset);
    assert.equal(shown.code, 0);
    assert.match(shown.output, /dead-lettered by ratings at .* not_avro: value is not in the Confluent wire format \(its key is parked\)/);
    assert.match(shown.output, /key: tt0000042\n {2}headers:\n {4}source: kcat\n {2}does not decode: not_avro: .*\n {2}value: not avro at all/);
    const parked = await run('show', topic, partition, String(Number(offset) + 1));
    assert.match(parked.output, /event \(schema version 2\):/);
    assert.match(parked.output, new RegExp(`"eventId": "${behind.envelope.eventId}"`));
    assert.equal((await run('show', topic, partition, '999999')).code, 1);

    for (const bad of [['list', '--code'], ['list', '--since', 'yesterday'], ['list', '--projection', 'reviews'], ['show', topic, 'one', '2'], ['redo']]) {
      assert.equal((await run(...bad)).code, 2, bad.join(' '));
    }
  });
});

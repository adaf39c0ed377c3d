import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { createPool } from '../../shared/db/pool.ts';
import { eventually } from '../../harness/eventually.ts';
import { aggregates, outcomes, projectorFixture, rating } from '../support/projector-fixture.ts';
import { startProjectorProcess, startToolProcess } from '../../harness/projector-process.ts';
import { createTestDatabase, quietLogger, uniqueName } from '../../harness/services.ts';

/**
 * `npm run dlq` as an operator runs it against what a real projector process dead-lettered and
 * parked: a record a plain Kafka client wrote, and a good event of the same movie behind it.
 */
/** Fresh topics and database, a real projector process on them, and the tool to run against both. */
async function setup(t: TestContext) {
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
  /** `npm run dlq -- ...args`: its exit code, and what it printed on stdout and stderr. */
  const run = async (...args: string[]) => {
    const tool = startToolProcess('dlq', args, settings);
    return { code: await tool.exited, output: tool.output() + tool.errors() };
  };
  return { f, pool, run };
}

describe('dead-letter tool', () => {
  it('lists dead letters by class and key, and shows a record decoded or as bytes, with its headers', async (t) => {
    const { f, pool, run } = await setup(t);
    const topic = f.topics.movieRatings;
    // Keyed like the event behind it, so that both land on one partition.
    await f.produceRaw(topic, { key: 'tt0000042', value: Buffer.from('not avro at all'), headers: { source: 'kcat' } });
    const behind = rating('alice', 'tt0000042', 4);
    await f.publisher.publish(behind);
    await eventually(
      async () => assert.match((await outcomes(pool, 'ratings'))[behind.envelope.eventId] ?? '', /^parked/),
      60_000,
    );

    const listed = await run('list');
    assert.equal(listed.code, 0);
    assert.match(listed.output, /ratings: 1 dead letter, 1 parking their key/);
    assert.match(listed.output, /not_avro +1 +1/);
    const position = new RegExp(
      `${topic}/(\\d+)@(\\d+) +tt0000042 +not_avro .*\\[key parked\\] value is not in the Confluent wire format`,
    );
    const [, partition, offset] = position.exec(listed.output) ?? [];
    assert.ok(partition !== undefined && offset !== undefined, listed.output);
    assert.match(
      (await run('list', '--code', 'not_avro', '--key', 'tt0000042', '--projection', 'ratings')).output,
      position,
    );
    assert.match((await run('list', '--code', 'invalid_event')).output, /no dead letters match/);
    assert.match(
      (await run('list', '--since', new Date(Date.now() + 60_000).toISOString())).output,
      /no dead letters match/,
    );

    const shown = await run('show', topic, partition, offset);
    assert.equal(shown.code, 0);
    assert.match(
      shown.output,
      /dead-lettered by ratings at .* not_avro: value is not in the Confluent wire format \(its key is parked\)/,
    );
    assert.match(
      shown.output,
      /key: tt0000042\n {2}headers:\n {4}source: kcat\n {2}does not decode: not_avro: .*\n {2}value: not avro at all/,
    );
    const parked = await run('show', topic, partition, String(Number(offset) + 1));
    assert.match(parked.output, /event \(schema version 2\):/);
    assert.match(parked.output, new RegExp(`"eventId": "${behind.envelope.eventId}"`));
    assert.equal((await run('show', topic, partition, '999999')).code, 1);
    const noTopic = await run('show', 'no-such-topic', '0', '1');
    assert.equal(noTopic.code, 1);
    assert.match(noTopic.output, /^dlq: There is no topic no-such-topic\.$/m);
    const nobody = await run('redrive', '--key', 'tt9999999', '--execute');
    assert.deepEqual([nobody.code, nobody.output.trim()], [0, 'nothing to re-drive']);

    for (const bad of [
      ['list', '--code'],
      ['list', '--since', 'yesterday'],
      ['list', '--projection', 'reviews'],
      ['show', topic, 'one', '2'],
      ['redo'],
      ['redrive'],
      ['redrive', '--all=yes'],
    ]) {
      assert.equal((await run(...bad)).code, 2, bad.join(' '));
    }

    // Bytes that are still no event fail again: dead-lettered once more, one attempt more, the key parked again.
    const again = await run('redrive', '--key', 'tt0000042', '--execute', '--by', 'ops-test');
    assert.equal(again.code, 1, again.output);
    assert.match(
      again.output,
      /going to re-drive the dead letter at \d+ \(not_avro\) and the 1 later record of its key \(\d+\): ratings tt0000042 on /,
    );
    assert.match(again.output, /by ops-test: ratings tt0000042 at .*, 2 records: dead_lettered/);
    const letters = await f.readTopic(f.topics.deadLetters.get(topic)!, 2);
    assert.deepEqual(
      letters.map((l) => l.headers?.['dlq.attempt']?.toString()),
      ['1', '2'],
    );
    assert.match((await outcomes(pool, 'ratings'))[behind.envelope.eventId] ?? '', /^parked/);

    // Bytes that can never apply are given up on: the key is released and what it parked goes on.
    const leave = await run('redrive', '--key', 'tt0000042', '--leave-dead-letter', '--execute', '--by', 'ops-test');
    assert.equal(leave.code, 0, leave.output);
    assert.match(
      leave.output,
      /going to release the key of the dead letter at \d+ \(not_avro\), left behind, and re-drive the 1 later record of its key/,
    );
    assert.match(leave.output, /ratings tt0000042 at .*, 1 record: applied/);
    assert.equal((await outcomes(pool, 'ratings'))[behind.envelope.eventId], 'applied');
    assert.deepEqual((await pool.query('SELECT * FROM ratings.parked_keys')).rows, []);
  });

  it('re-drives a dead letter whose projection was corrected, with the events parked behind it, in order; a dry run writes nothing', async (t) => {
    const { f, pool, run } = await setup(t);
    // A projection bug, as far as the read model can tell: it cannot store a 3.
    await eventually(
      async () => void (await pool.query('ALTER TABLE ratings.ratings ADD CONSTRAINT no_threes CHECK (value <> 3)')),
      60_000,
    );
    const refused = rating('alice', 'tt0000099', 3);
    const behind = [rating('bob', 'tt0000099', 5), rating('alice', 'tt0000099', 4)];
    // One at a time: a batch writes only each rating's final value, and alice's 4 would hide her 3.
    await f.publisher.publish(refused);
    await eventually(
      async () => assert.match((await outcomes(pool, 'ratings'))[refused.envelope.eventId] ?? '', /^dead_lettered/),
      60_000,
    );
    for (const event of behind) await f.publisher.publish(event);
    await eventually(async () => {
      const all = await outcomes(pool, 'ratings');
      assert.deepEqual(
        [refused, ...behind].map((e) => all[e.envelope.eventId]?.split(':')[0]),
        ['dead_lettered', 'parked', 'parked'],
      );
    }, 60_000);

    const dry = await run('redrive', '--key', 'tt0000099');
    assert.equal(dry.code, 0);
    assert.match(
      dry.output,
      /would re-drive the dead letter at \d+ \(database_refused\) and the 2 later records of its key \(\d+, \d+\): ratings tt0000099 on /,
    );
    assert.match(dry.output, /dry run: nothing was written/);
    assert.deepEqual((await pool.query('SELECT * FROM operations.redrives')).rows, []);

    await pool.query('ALTER TABLE ratings.ratings DROP CONSTRAINT no_threes');
    const done = await run('redrive', '--key', 'tt0000099', '--execute', '--by', 'ops-test');
    assert.equal(done.code, 0, done.output);
    assert.match(done.output, /by ops-test: ratings tt0000099 at .*, 3 records: applied/);
    // In log order: alice's 3, bob's 5, then alice's 4 replacing her 3.
    await eventually(async () =>
      assert.deepEqual(await aggregates(pool), [{ record_id: 'tt0000099', count: 2, sum: 9, count_1: 0, count_5: 1 }]),
    );
    const all = await outcomes(pool, 'ratings');
    assert.deepEqual(
      [refused, ...behind].map((e) => all[e.envelope.eventId]),
      ['applied', 'applied', 'applied'],
    );
    assert.deepEqual((await pool.query('SELECT * FROM ratings.parked_keys')).rows, []);
    const listed = await run('list');
    assert.match(listed.output, /redrives:\n {2}\S+ by ops-test: ratings tt0000099 at .*: applied/);
    assert.match((await run('redrive', '--all')).output, /skip ratings .*: re-driven already \(applied by redrive/);
  });
});

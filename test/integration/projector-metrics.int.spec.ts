import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually } from '../../harness/eventually.ts';
import { aggregates, projectorFixture, rating, stallAggregate } from '../support/projector-fixture.ts';
import { uniqueName, type TestProjector } from '../../harness/services.ts';

/**
 * The projector gauges the alerts watch (infra/prometheus/alerts.yml), against the real
 * services: parked keys per partition, also for a partition that has nothing new to read after
 * a restart, and a partition in retry.
 */

async function gauge(runner: TestProjector, name: 'parkedKeys' | 'partitionRetrying'): Promise<Record<string, number>> {
  const { values } = await runner.metrics[name].get();
  return Object.fromEntries(values.map((v) => [Object.values(v.labels).join('/'), v.value]));
}

describe('projector alert gauges', () => {
  it('report the keys parked on each partition, after a batch and after a restart with nothing new to read', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    const group = uniqueName('group');
    const first = await f.runner(pool, group);
    const topic = f.topics.movieRatings;
    await f.produceRaw(topic, { key: 'poisoned', value: Buffer.from('not avro') });
    const behind = await f.publisher.publish(rating('bob', 'poisoned', 2));
    const expected = {
      [`ratings/${topic}/0`]: 0,
      [`ratings/${topic}/1`]: 0,
      [`ratings/${topic}/2`]: 0,
      [`ratings/${topic}/${behind.partition}`]: 1,
    };
    const ratingsOnly = (all: Record<string, number>) =>
      Object.fromEntries(Object.entries(all).filter(([labels]) => labels.startsWith('ratings/')));

    await eventually(async () => assert.deepEqual(ratingsOnly(await gauge(first, 'parkedKeys')), expected));
    await first.stop();

    const second = await f.runner(pool, group);
    await eventually(async () => assert.deepEqual(ratingsOnly(await gauge(second, 'parkedKeys')), expected), 20_000);
    assert.deepEqual(await gauge(second, 'partitionRetrying'), {});
  });

  it('mark a partition retrying while it fails transiently, and clear it when it applies again', async (t) => {
    const f = await projectorFixture(t);
    const pool = await f.database();
    const unstall = await stallAggregate(pool, 'stuck');
    const runner = await f.runner(pool);
    const stuck = await f.publisher.publish(rating('alice', 'stuck', 3));
    const key = `${f.topics.movieRatings}/${stuck.partition}`;

    await eventually(async () => assert.deepEqual(await gauge(runner, 'partitionRetrying'), { [key]: 1 }));
    await unstall();
    await eventually(async () => assert.ok((await aggregates(pool)).some((a) => a.record_id === 'stuck')), 30_000);
    await eventually(async () => assert.deepEqual(await gauge(runner, 'partitionRetrying'), { [key]: 0 }));
  });
});

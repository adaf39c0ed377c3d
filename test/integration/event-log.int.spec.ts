import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { EventCodec } from '../../shared/kafka/codec.ts';
import type { EventLogOptions } from '../../shared/kafka/event-log.ts';
import { createEventPublisher } from '../../shared/kafka/publisher.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { createMetrics, type Metrics } from '../../shared/metrics.ts';
import { eventually } from '../../harness/eventually.ts';
import { metadataSet, rating } from '../support/projector-fixture.ts';
import { readEvents, recordCount } from '../support/topic-log.ts';
import { createTestTopics, quietLogger, services } from '../../harness/services.ts';
import { registryClient } from '../../shared/registry.ts';

/** The count and sum of a histogram without labels. */
async function histogram(metrics: Metrics, name: string) {
  const values = (await metrics.registry.getSingleMetric(name)!.get()).values;
  const of = (suffix: string) =>
    (values as Array<{ metricName?: string; value: number }>).find((v) => v.metricName === `${name}_${suffix}`)
      ?.value ?? 0;
  return { count: of('count'), sum: of('sum') };
}

/** A connected publisher to fresh topics of `partitions` partitions, closed and removed after the test. */
async function publisherOnFreshTopics(t: TestContext, partitions: number, options: EventLogOptions) {
  const topics = await createTestTopics(partitions);
  const kafka = createKafka('test', services.kafka, quietLogger());
  const codec = await EventCodec.forWriting(registryClient(services.registry), topics);
  const metrics = createMetrics('command-api');
  const publisher = createEventPublisher(kafka, codec, quietLogger(), options, metrics);
  await publisher.connect();
  t.after(async () => {
    await publisher.disconnect();
    await topics.remove();
  });
  return { topics, kafka, publisher, metrics };
}

/** The micro-batching publisher against a real broker: the positions it answers are where the events are. */
describe('event publisher', () => {
  it('answers, for concurrent appends sharing sends, the partition and offset each event landed at', async (t) => {
    const { topics, kafka, publisher, metrics } = await publisherOnFreshTopics(t, 6, {
      ackTimeoutMs: 5000,
      lingerMs: 2,
      maxBatchEvents: 1000,
    });

    const singles = Array.from({ length: 300 }, (_, i) => [rating(`u${i}`, `m${i % 37}`, 3)]);
    const bulk = Array.from({ length: 1200 }, (_, i) => rating(`bulk${i}`, `m${i % 11}`, 3));
    const appended = await Promise.all(
      [...singles, bulk].map(async (events) => ({ events, positions: await publisher.publish(events) })),
    );

    const landed = new Map(
      (await readEvents(kafka, topics.movieRatings)).map((l) => [
        `${l.partition}/${l.offset}`,
        { key: l.key, eventId: l.event.envelope.eventId },
      ]),
    );
    const total = singles.length + bulk.length;
    assert.equal(landed.size, total);

    for (const { events, positions } of appended) {
      assert.equal(positions.length, events.length);
      events.forEach((event, i) => {
        const { topic, partition, offset } = positions[i]!;
        assert.equal(topic, topics.movieRatings);
        assert.deepEqual(landed.get(`${partition}/${offset}`), {
          key: event.recordId,
          eventId: event.envelope.eventId,
        });
      });
    }
    // Appends shared sends: fewer sends than appends, every event counted once.
    const sends = await histogram(metrics, 'event_log_send_events');
    assert.equal(sends.sum, total);
    assert.ok(sends.count < appended.length, `${sends.count} sends for ${appended.length} appends`);
    // One movie, one partition: its events keep their order.
    const partitionsOfM0 = new Set(
      appended.flatMap(({ events, positions }) =>
        events.flatMap((e, i) => (e.recordId === 'm0' ? [positions[i]!.partition] : [])),
      ),
    );
    assert.equal(partitionsOfM0.size, 1);
  });

  it('refuses, past the acknowledgement timeout, a write Kafka cannot take, and recovers when it can', async (t) => {
    const { topics, kafka, publisher, metrics } = await publisherOnFreshTopics(t, 1, {
      ackTimeoutMs: 1500,
      lingerMs: 0,
      maxBatchEvents: 1000,
    });
    const [first] = await publisher.publish([rating('a', 'm1', 3)]);
    assert.equal(first!.offset, 0);

    // The ratings topic goes away: the broker answers every produce to it with an error.
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topics.movieRatings] });
    await admin.disconnect();
    const started = performance.now();
    await assert.rejects(publisher.publish([rating('b', 'm1', 3)]), { name: 'UnavailableError', dependency: 'kafka' });
    assert.ok(performance.now() - started < 3000, `refused after ${Math.round(performance.now() - started)} ms`);
    // The send fails at its own deadline, a moment after the append's.
    await eventually(async () =>
      assert.equal(
        (await metrics.producerFailures.get()).values.reduce((sum, v) => sum + v.value, 0),
        1,
      ),
    );

    // The producer that failed was replaced; writes Kafka can take go through again.
    const [after] = await publisher.publish([metadataSet('m1', 'T')]);
    assert.deepEqual(after, { topic: topics.movieMetadata, partition: 0, offset: 0 });
  });
  it('sends what is pending when it closes, so a shutdown answers every waiting request', async () => {
    const topics = await createTestTopics(3);
    const kafka = createKafka('test', services.kafka, quietLogger());
    const codec = await EventCodec.forWriting(registryClient(services.registry), topics);
    try {
      // A long linger keeps the appends queued when the close begins.
      const publisher = createEventPublisher(kafka, codec, quietLogger(), {
        ackTimeoutMs: 5000,
        lingerMs: 200,
        maxBatchEvents: 50,
      });
      await publisher.connect();
      const appends = Array.from({ length: 120 }, (_, i) =>
        publisher.publish([rating(`closing-${i}`, `m${i % 9}`, 3)]),
      );
      await publisher.disconnect();
      const positions = await Promise.all(appends);
      assert.equal(positions.length, 120);
      assert.equal(await recordCount(kafka, [topics.movieRatings]), 120);
    } finally {
      await topics.remove();
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventCodec } from '../../shared/kafka/codec.ts';
import { createEventPublisher } from '../../shared/kafka/publisher.ts';
import { eventually } from '../../harness/eventually.ts';
import { rating } from '../support/projector-fixture.ts';
import { startKafkaProxy } from '../support/kafka-proxy.ts';
import { createTestTopics, quietLogger, services } from '../../harness/services.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { readEvents } from '../support/topic-log.ts';
import { registryClient } from '../../shared/registry.ts';

const ACK_TIMEOUT_MS = 1500;

/** The write path against a real broker behind a TCP proxy that loses answers or cuts Kafka off. */
describe('Kafka faults on the write path', () => {
  let proxy: Awaited<ReturnType<typeof startKafkaProxy>>;
  before(async () => {
    proxy = await startKafkaProxy();
  });
  after(() => proxy?.close());

  it('fails an append whose produce answer is lost, and appends on at once with a new producer, each event in the log once', async (t) => {
    const topics = await createTestTopics(1);
    t.after(() => topics.remove());
    const codec = await EventCodec.forWriting(registryClient(services.registry), topics);
    const publisher = createEventPublisher(proxy.kafka(), codec, quietLogger(), {
      ackTimeoutMs: ACK_TIMEOUT_MS,
      lingerMs: 0,
      maxBatchEvents: 1000,
    });
    await publisher.connect();
    t.after(() => publisher.disconnect());

    const before = rating('before', 'm1', 3);
    const [first] = await publisher.publish([before]);
    proxy.loseNextProduceAnswer();
    const lostEvent = rating('lost', 'm1', 3);
    const started = performance.now();
    await assert.rejects(publisher.publish([lostEvent]), { name: 'UnavailableError', dependency: 'kafka' });
    assert.ok(
      performance.now() - started < ACK_TIMEOUT_MS + 1000,
      `refused after ${Math.round(performance.now() - started)} ms`,
    );
    assert.equal(proxy.lostAnswers, 1);

    // The old producer still waits for its lost answer; a reused one would queue behind it
    // (one request in flight) until kafkajs's 30 s request timeout. A new one writes at once.
    const next = [rating('after-1', 'm1', 3), rating('after-2', 'm1', 3)];
    const resumed = performance.now();
    const positions = await publisher.publish(next);
    assert.ok(
      performance.now() - resumed < ACK_TIMEOUT_MS,
      `appended after ${Math.round(performance.now() - resumed)} ms`,
    );

    const logged = await readEvents(proxy.kafka('reader'), topics.movieRatings);
    const count = (id: string) => logged.filter((l) => l.event.envelope.eventId === id).length;
    assert.equal(count(lostEvent.envelope.eventId), 1, 'the broker wrote the records whose answer was lost');
    const answered = [[before, first!], ...next.map((e, i) => [e, positions[i]!] as const)] as const;
    for (const [event, position] of answered) {
      const copies = logged.filter((l) => l.event.envelope.eventId === event.envelope.eventId);
      assert.deepEqual(
        copies.map((l) => ({ topic: l.topic, partition: l.partition, offset: l.offset })),
        [position],
        'once, where the append said',
      );
    }
  });

  describe('over HTTP', () => {
    let system: TestSystem;
    before(async () => {
      system = await startSystem({ projector: false });
    });
    after(() => system?.stop());

    it('answers 503 in bounded time while Kafka is unreachable, never a 202 without its event in the log, and recovers', async () => {
      const url = await system.startCommandApi({ kafka: proxy.kafka('command-api'), ackTimeoutMs: ACK_TIMEOUT_MS });
      const answers: Array<{ status: number; eventId?: string; ms: number }> = [];
      let running = true;
      const client = async (n: number) => {
        const token = system.token(`user-${n}`, ['user']);
        for (let i = 0; running; i++) {
          const started = performance.now();
          const response = await fetch(`${url}/v1/movies/movie-${(n * 7 + i) % 23}/ratings`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ value: 1 + (i % 5) }),
          });
          const body = (await response.json()) as { eventId?: string };
          answers.push({
            status: response.status,
            ...(body.eventId ? { eventId: body.eventId } : {}),
            ms: performance.now() - started,
          });
        }
      };
      const count = (status: number) => answers.filter((a) => a.status === status).length;
      const until = (condition: () => boolean, timeoutMs: number) =>
        eventually(
          () =>
            condition()
              ? Promise.resolve()
              : Promise.reject(new Error(`not yet: ${count(202)} accepted, ${count(503)} refused`)),
          timeoutMs,
        );
      const clients = Array.from({ length: 16 }, (_, n) => client(n));

      await until(() => count(202) >= 100, 20_000);
      proxy.cutOff();
      await until(() => count(503) >= 16, 20_000);
      proxy.restore();
      const accepted = count(202);
      await until(() => count(202) >= accepted + 100, 30_000);
      running = false;
      await Promise.all(clients);

      const other = answers.filter((a) => a.status !== 202 && a.status !== 503);
      assert.deepEqual(other, [], 'every answer is 202 or 503');
      const slowest503 = Math.max(...answers.filter((a) => a.status === 503).map((a) => a.ms));
      assert.ok(slowest503 < ACK_TIMEOUT_MS + 1500, `slowest 503 took ${Math.round(slowest503)} ms`);

      const logged = await readEvents(system.kafka, system.topics.movieRatings);
      const copies = new Map<string, number>();
      for (const l of logged) copies.set(l.event.envelope.eventId, (copies.get(l.event.envelope.eventId) ?? 0) + 1);
      const acceptedIds = answers.filter((a) => a.status === 202).map((a) => a.eventId!);
      const missing = acceptedIds.filter((id) => copies.get(id) !== 1);
      assert.deepEqual(missing, [], 'every 202 event is in the log exactly once');
      assert.ok(
        [...copies.values()].every((n) => n === 1),
        'no event is in the log twice',
      );
    });
  });
});

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Kafka, logLevel, Partitioners, type LogEntry } from 'kafkajs';
import { ensureArtifacts } from '../../infra/artifacts.ts';
import { kafkaService } from '../../infra/kafka.ts';
import { dataPath, logPath, pidPath } from '../../infra/paths.ts';
import { ensureTopics } from '../../shared/kafka/topics.ts';
import { eventually } from '../../harness/eventually.ts';
import { freePortPair, quietLogger, uniqueName } from '../../harness/services.ts';
import { createKafka, plaintext } from '../../shared/kafka/client.ts';

/**
 * The launcher's broker, started for the first time in a data folder of its own: once its start
 * returns, a service's first moves (an idempotent producer, a consumer group joining) go through
 * without kafkajs logging a single error. Before, every first `npm start` began with kafkajs's
 * retried "The coordinator is loading" and "The group coordinator is not available" as errors.
 */
describe('launcher Kafka', () => {
  it('is ready for producers and consumer groups when its first start returns', async (t) => {
    const name = uniqueName('kafka-first-start');
    const dir = dataPath('test', name);
    const broker = `127.0.0.1:${await freePortPair()}`;
    const artifacts = ensureArtifacts(() => undefined);
    const service = kafkaService(broker, () => artifacts, 3, { name, dir });
    t.after(async () => {
      await service.stop();
      for (const leftover of [dir, logPath(name), pidPath(name)]) rmSync(leftover, { recursive: true, force: true });
    });
    await service.start();

    const errors: string[] = [];
    const kafka = new Kafka({
      clientId: 'first-service',
      brokers: [broker],
      logLevel: logLevel.ERROR,
      logCreator: () => (entry: LogEntry) => {
        errors.push(`${entry.log.message}: ${String(entry.log.error)}`);
      },
    });
    const topic = uniqueName('first');
    await ensureTopics(createKafka('setup', plaintext([broker]), quietLogger()), [topic], 3);
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    const consumer = kafka.consumer({ groupId: uniqueName('first-group') });
    try {
      await producer.connect();
      await producer.send({ topic, messages: [{ key: 'k', value: 'v' }] });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      let received = 0;
      await consumer.run({ eachMessage: () => Promise.resolve(void (received += 1)) });
      await eventually(() => Promise.resolve(assert.equal(received, 1)), 30_000);
      // Before the clients leave: only the first moves count.
      assert.deepEqual(errors, []);
    } finally {
      // Before the broker stops: a client left connected would retry it for minutes.
      await Promise.allSettled([producer.disconnect(), consumer.disconnect()]);
    }
  });
});

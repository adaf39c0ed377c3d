import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel, Partitioners, type KafkaConfig, type LogEntry } from 'kafkajs';
import { ADMIN_USER, type ServiceUser } from '../../infra/cluster/access.ts';
import { kafkajsConnection } from '../../shared/kafka/client.ts';
import { startSecuredCluster, type SecuredCluster } from '../../harness/secured-cluster.ts';
import { eventually } from '../../harness/eventually.ts';
import { uniqueName } from '../../harness/services.ts';

/**
 * The innermost error of a chain, as `name(type)`: what the broker answered, under the retry
 * errors kafkajs wraps it in (how many depends on where in the client it failed).
 */
function brokerAnswer(err: unknown): string {
  let e = err as { name?: string; type?: string; cause?: unknown; originalError?: unknown };
  while (e.cause ?? e.originalError) e = (e.cause ?? e.originalError) as typeof e;
  return e.type ? `${e.name}(${e.type})` : String(e.name);
}

/**
 * The secured cluster the launcher starts with `--cluster`: every refusal here is the broker's
 * answer (an authorization error, a failed SASL exchange, a closed connection), not our config.
 */
describe('secured Kafka cluster', () => {
  let cluster: SecuredCluster;
  before(async () => {
    cluster = await startSecuredCluster();
  });
  after(() => cluster?.remove());

  const client = (config: Omit<KafkaConfig, 'clientId'>) =>
    new Kafka({
      clientId: uniqueName('security'),
      logLevel: logLevel.NOTHING,
      retry: { retries: 1, initialRetryTime: 100 },
      connectionTimeout: 3000,
      requestTimeout: 5000,
      ...config,
    });
  const as = (user: ServiceUser | typeof ADMIN_USER) => client(kafkajsConnection(cluster.connectionFor(user)));

  /** Appends one record with acks=all; resolves to the error chain of a refusal, or 'accepted'. */
  async function append(kafka: Kafka, topic: string, idempotent = false): Promise<string> {
    const producer = kafka.producer({
      idempotent,
      maxInFlightRequests: idempotent ? 1 : 5,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    try {
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: [{ key: 'movie-1', value: 'x' }] });
      return 'accepted';
    } catch (err) {
      return brokerAnswer(err);
    } finally {
      await producer.disconnect().catch(() => undefined);
    }
  }

  it('keeps three copies of every topic and acknowledges a write once two hold it', async () => {
    const admin = as(ADMIN_USER).admin();
    await admin.connect();
    try {
      // A topic just created may show two of its replicas in sync for a few seconds.
      await eventually(async () => {
        const [ratings] = (await admin.fetchTopicMetadata({ topics: [cluster.topics.sources[1]!] })).topics;
        assert.deepEqual(
          ratings!.partitions.map((p) => [p.replicas.length, p.isr.length]),
          ratings!.partitions.map(() => [3, 3]),
        );
      });
      const [config] = (
        await admin.describeConfigs({
          includeSynonyms: false,
          resources: [
            {
              type: 2,
              name: cluster.topics.sources[1]!,
              configNames: ['min.insync.replicas', 'unclean.leader.election.enable'],
            },
          ],
        })
      ).resources;
      assert.deepEqual(Object.fromEntries(config!.configEntries.map((e) => [e.configName, e.configValue])), {
        'min.insync.replicas': '2',
        'unclean.leader.election.enable': 'false',
      });
    } finally {
      await admin.disconnect();
    }
  });

  it('lets the command API append to the source topics, with an idempotent producer', async () => {
    for (const topic of cluster.topics.sources) assert.equal(await append(as('command-api'), topic, true), 'accepted');
  });

  it('refuses writes to the source topics from every other service', async () => {
    for (const user of ['projectors', 'replay', 'query-api'] as const) {
      assert.equal(
        await append(as(user), cluster.topics.sources[1]!),
        'KafkaJSProtocolError(TOPIC_AUTHORIZATION_FAILED)',
        user,
      );
    }
    // Without a write grant on any topic, an idempotent producer is refused its producer id.
    assert.equal(
      await append(as('query-api'), cluster.topics.sources[1]!, true),
      'KafkaJSProtocolError(CLUSTER_AUTHORIZATION_FAILED)',
    );
  });

  it('lets the projectors write dead letters and read the source topics in their group, and nothing else', async () => {
    assert.equal(await append(as('projectors'), cluster.topics.deadLetters[1]!), 'accepted');
    const admin = as(ADMIN_USER);
    assert.equal(await append(admin, cluster.topics.sources[1]!), 'accepted');
    // kafkajs reports a refused group as "coordinator not found"; the broker's answer is in its debug log.
    const answers: string[] = [];
    const projectors = client({
      ...kafkajsConnection(cluster.connectionFor('projectors')),
      logLevel: logLevel.DEBUG,
      logCreator: () => (entry: LogEntry) => void answers.push(String(entry.log.error ?? '')),
    });
    const read = async (groupId: string) => {
      const consumer = projectors.consumer({ groupId, allowAutoTopicCreation: false, retry: { retries: 1 } });
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: [cluster.topics.sources[1]!], fromBeginning: true });
        return await new Promise<string>((resolve) => {
          consumer.on(consumer.events.CRASH, ({ payload }) => resolve(brokerAnswer(payload.error)));
          void consumer
            .run({ eachMessage: () => Promise.resolve(resolve('read')) })
            .catch((err: unknown) => resolve(brokerAnswer(err)));
        });
      } finally {
        await consumer.disconnect().catch(() => undefined);
      }
    };
    assert.equal(await read(cluster.topics.projectorGroup), 'read');
    assert.ok(!answers.some((a) => a.includes('Not authorized')));
    assert.equal(await read(uniqueName('other-group')), 'KafkaJSGroupCoordinatorNotFound');
    assert.ok(
      answers.some((a) => a.includes('Not authorized to access group')),
      answers.filter(Boolean).join('; '),
    );
  });

  it('refuses a wrong password, a client without credentials and plaintext on the TLS port', async () => {
    const { brokers, ssl, sasl } = kafkajsConnection(cluster.connectionFor('command-api'));
    const topic = cluster.topics.sources[1]!;
    assert.equal(
      await append(client({ brokers, ssl, sasl: { ...sasl!, password: 'not-the-password' } as never }), topic),
      'KafkaJSSASLAuthenticationError',
    );
    // The broker closes a connection that asks for anything before authenticating, or that does not speak TLS.
    assert.equal(await append(client({ brokers, ssl }), topic), 'KafkaJSConnectionClosedError');
    assert.equal(await append(client({ brokers }), topic), 'KafkaJSConnectionClosedError');
  });
});

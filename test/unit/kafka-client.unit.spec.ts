import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { createKafka, plaintext } from '../../shared/kafka/client.ts';
import { createLogger } from '../../shared/logger.ts';

describe("kafkajs's logs", () => {
  /** What a kafkajs client built by createKafka writes for `log`, as pino's levels. */
  function levelsWritten(log: (kafka: Kafka) => void): number[] {
    const lines: string[] = [];
    const kafka = createKafka(
      'test',
      plaintext(['localhost:1']),
      createLogger('test', 'debug', { write: (line: string) => lines.push(line) }),
    );
    log(kafka);
    return lines.map((line) => (JSON.parse(line) as { level: number }).level);
  }

  it('logs a broker answer kafkajs retries (a rebalance, a loading coordinator, a moved leader) at debug, not as an error', () => {
    const answers = [
      'The group is rebalancing, so a rejoin is needed',
      "The coordinator is loading and hence can't process requests for this group",
      'This server is not the leader for that topic-partition',
    ];
    const levels = levelsWritten((kafka) => {
      for (const error of answers)
        kafka.logger().error('Response Heartbeat(key: 12, version: 3)', { broker: 'localhost:9194', error });
    });
    assert.deepEqual(levels, [20, 20, 20]);
  });

  it('keeps every other error an error', () => {
    const levels = levelsWritten((kafka) => {
      kafka.logger().error('Response SaslAuthenticate(key: 36, version: 1)', {
        error:
          'Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512',
      });
      kafka
        .logger()
        .error('Crash: KafkaJSNumberOfRetriesExceeded', { error: 'The group is rebalancing, so a rejoin is needed' });
    });
    assert.deepEqual(levels, [50, 50]);
  });
});

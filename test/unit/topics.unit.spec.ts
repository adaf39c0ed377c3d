import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs, { type Kafka } from 'kafkajs';
import { ensureTopics } from '../../shared/kafka/topics.ts';

const { KafkaJSProtocolError } = kafkajs;

/** A broker's error answer, as kafkajs builds it from its table of the protocol's errors (its types want an Error). */
const protocolError = (entry: { type: string; code: number; retriable: boolean; message: string }) =>
  new KafkaJSProtocolError(entry as unknown as Error);

const unknownTopic = () =>
  protocolError({
    type: 'UNKNOWN_TOPIC_OR_PARTITION',
    code: 3,
    retriable: true,
    message: 'This server does not host this topic-partition',
  });

/**
 * A stand-in admin whose metadata answers come from `answers`, one per call, the last repeated:
 * an Error is thrown, a number is the leader of every partition (-1: none yet).
 */
function kafkaAnswering(answers: Array<Error | number>) {
  let calls = 0;
  const admin = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    listTopics: () => Promise.resolve([]),
    createTopics: () => Promise.resolve(true),
    fetchTopicMetadata: ({ topics }: { topics: string[] }) => {
      const answer = answers[Math.min(calls++, answers.length - 1)]!;
      if (answer instanceof Error) return Promise.reject(answer);
      return Promise.resolve({
        topics: topics.map((name) => ({
          name,
          partitions: [0, 1].map((partitionId) => ({ partitionId, leader: answer })),
        })),
      });
    },
  };
  return { kafka: { admin: () => admin } as unknown as Kafka, calls: () => calls };
}

describe('ensureTopics', () => {
  it('waits while a broker has not heard of the new topics yet, or they have no leader, until every partition has one', async () => {
    const { kafka, calls } = kafkaAnswering([unknownTopic(), unknownTopic(), -1, 2]);
    await ensureTopics(kafka, ['movie-ratings'], 2);
    assert.equal(calls(), 4);
  });

  it('says which topics still have no leader when the time is up', async () => {
    const { kafka } = kafkaAnswering([-1]);
    await assert.rejects(
      ensureTopics(kafka, ['movie-ratings'], 2, 300),
      /movie-ratings .*no leader on every partition after 300 ms \(without a leader: movie-ratings\)/,
    );
  });

  it('gives up at once on an error that asking again cannot mend', async () => {
    const denied = protocolError({
      type: 'TOPIC_AUTHORIZATION_FAILED',
      code: 29,
      retriable: false,
      message: 'Not authorized to access topics: [Topic authorization failed]',
    });
    const { kafka, calls } = kafkaAnswering([denied]);
    await assert.rejects(ensureTopics(kafka, ['movie-ratings'], 2), /Not authorized/);
    assert.equal(calls(), 1);
  });
});

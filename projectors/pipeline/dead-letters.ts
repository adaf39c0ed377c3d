import { Partitioners, type IHeaders, type Kafka, type Message } from 'kafkajs';
import type { DeadLetterTopics } from '../../shared/config.ts';
import type { DeadLetterCode } from './plan.ts';

/**
 * Header names of a dead letter. Where Kafka Connect has a name for the same fact, its
 * `__connect.errors.*` name is used, so tools that read Connect's dead letters read ours.
 */
export const DLQ_HEADERS = {
  topic: '__connect.errors.topic',
  partition: '__connect.errors.partition',
  offset: '__connect.errors.offset',
  errorClass: '__connect.errors.exception.class.name',
  errorMessage: '__connect.errors.exception.message',
  projection: '__connect.errors.connector.name',
  key: 'dlq.original.key',
  timestamp: 'dlq.original.timestamp',
  attempt: 'dlq.attempt',
  failedAt: 'dlq.failed-at',
  consumerGroup: 'dlq.consumer-group',
  /** On a re-driven copy: the redrive (operations.redrives) it belongs to. */
  redrive: 'dlq.redrive',
  /** On the copy of the dead letter itself, the first of its redrive: 'true'. It releases the key. */
  redriveReleases: 'dlq.redrive-releases',
} as const;

const OURS = new Set<string>(Object.values(DLQ_HEADERS));

/** A record from the log, as it arrived. */
export interface SourceRecord {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
  /** Epoch milliseconds, as Kafka gives it. */
  timestamp: string;
}

export interface DeadLetter {
  source: SourceRecord;
  projection: string;
  code: DeadLetterCode;
  message: string;
}

/**
 * The dead-letter record of a source record: its key and value untouched, its own headers kept,
 * and headers naming where it came from and why it failed. The attempt count goes up by one
 * each time a record is dead-lettered again (after a redrive).
 */
export function deadLetterMessage(letter: DeadLetter, context: { consumerGroup: string; now: Date }): Message {
  const { source } = letter;
  const kept: IHeaders = {};
  for (const [name, value] of Object.entries(source.headers))
    if (!OURS.has(name) && value !== undefined) kept[name] = value;
  const previous = Number(source.headers[DLQ_HEADERS.attempt]?.toString());
  const headers: IHeaders = {
    ...kept,
    [DLQ_HEADERS.topic]: source.topic,
    [DLQ_HEADERS.partition]: String(source.partition),
    [DLQ_HEADERS.offset]: String(source.offset),
    [DLQ_HEADERS.errorClass]: letter.code,
    [DLQ_HEADERS.errorMessage]: letter.message,
    [DLQ_HEADERS.projection]: letter.projection,
    [DLQ_HEADERS.timestamp]: source.timestamp,
    [DLQ_HEADERS.attempt]: String(Number.isInteger(previous) && previous > 0 ? previous + 1 : 1),
    [DLQ_HEADERS.failedAt]: context.now.toISOString(),
    [DLQ_HEADERS.consumerGroup]: context.consumerGroup,
  };
  if (source.key !== null) headers[DLQ_HEADERS.key] = source.key;
  return { key: source.key, value: source.value, headers };
}

export interface DeadLetterWriter {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  /** Resolves once every dead letter is in its topic on all in-sync replicas (acks=all). */
  send(letters: readonly DeadLetter[]): Promise<void>;
  topicOf(sourceTopic: string): string;
}

export function createDeadLetterWriter(
  kafka: Kafka,
  topics: DeadLetterTopics,
  consumerGroup: string,
): DeadLetterWriter {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const topicOf = (source: string) => {
    const topic = topics.get(source);
    if (!topic) throw new Error(`No dead-letter topic is configured for ${source}`);
    return topic;
  };
  return {
    connect: () => producer.connect(),
    disconnect: () => producer.disconnect(),
    topicOf,
    async send(letters) {
      if (letters.length === 0) return;
      const now = new Date();
      const byTopic = new Map<string, Message[]>();
      for (const letter of letters) {
        const topic = topicOf(letter.source.topic);
        byTopic.set(topic, [...(byTopic.get(topic) ?? []), deadLetterMessage(letter, { consumerGroup, now })]);
      }
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    },
  };
}

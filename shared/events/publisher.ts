import { CompressionTypes, Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { EventCodec } from './codec.ts';
import type { LogPosition } from './position.ts';
import type { CatalogueEvent } from './types.ts';

export interface EventPublisher {
  /** Resolves once every in-sync replica has the event (acks=all); rejects otherwise. */
  publish(event: CatalogueEvent): Promise<LogPosition>;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
}

export function createEventPublisher(kafka: Kafka, codec: EventCodec): EventPublisher {
  const producer: Producer = kafka.producer({
    // Java-compatible murmur2 partitioning: other clients find a movie's events in the same partition.
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: 5, maxRetryTime: 5000 },
  });
  return {
    connect: () => producer.connect(),
    disconnect: () => producer.disconnect(),
    async publish(event) {
      const message = await codec.encode(event);
      const [meta] = await producer.send({
        topic: message.topic,
        acks: -1,
        compression: CompressionTypes.None,
        messages: [{ key: message.key, value: message.value, headers: message.headers }],
      });
      if (!meta || meta.errorCode !== 0 || meta.baseOffset === undefined) {
        throw new Error(`Kafka did not acknowledge ${event.type} ${event.envelope.eventId}`);
      }
      return { topic: meta.topicName, partition: meta.partition, offset: Number(meta.baseOffset) };
    },
  };
}

import type { Consumer } from 'kafkajs';
import type { Logger } from '../../shared/logger.ts';
import type { Metrics } from '../../shared/metrics.ts';

/**
 * How often the offsets stored in Postgres are copied to Kafka, for lag tools only: one commit
 * per batch cost the broker and the projector as much as small batches themselves.
 */
const COPY_INTERVAL_MS = 1000;

export interface OffsetCopy {
  /** A batch of an assigned partition committed in Postgres: `nextOffset` is copied with the next copy. */
  stored(topic: string, partition: number, nextOffset: number): void;
  /** The group reassigned the partitions: what was stored for the old assignment is not this member's to copy. */
  forgetAssignment(): void;
  start(): void;
  /** Copies what is left, and stops. */
  stop(): Promise<void>;
}

/**
 * Copies the projectors' offsets to the consumer group in Kafka, at most once every
 * COPY_INTERVAL_MS and when the member stops. Postgres holds the truth: a failed copy only
 * delays what lag tools show, and the next copy carries the offsets on.
 */
export function createOffsetCopy(consumer: Pick<Consumer, 'commitOffsets'>, metrics: Metrics, log: Logger): OffsetCopy {
  let pending = new Map<string, { topic: string; partition: number; offset: string }>();
  let timer: NodeJS.Timeout | undefined;

  async function copy(): Promise<void> {
    const offsets = [...pending.values()];
    pending = new Map();
    if (offsets.length === 0) return;
    await consumer.commitOffsets(offsets).catch((err: unknown) => {
      for (const topic of new Set(offsets.map((o) => o.topic))) metrics.kafkaCommitFailures.inc({ topic });
      log.warn({ err }, 'could not commit the offsets to Kafka; they follow with the next commit');
    });
  }

  return {
    stored(topic, partition, nextOffset) {
      pending.set(`${topic}/${partition}`, { topic, partition, offset: String(nextOffset) });
    },
    forgetAssignment() {
      pending = new Map();
    },
    start() {
      timer = setInterval(() => void copy(), COPY_INTERVAL_MS);
    },
    async stop() {
      clearInterval(timer);
      await copy();
    },
  };
}

import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Pool } from '../shared/db/pool.ts';
import type { EventCodec } from '../shared/events/codec.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { applyBatch } from './apply-batch.ts';
import { storedOffsets } from './offsets.ts';
import type { Projection } from './projections.ts';

export interface ProjectorDeps {
  kafka: Kafka;
  groupId: string;
  pool: Pool;
  codec: EventCodec;
  projections: Projection[];
  logger: Logger;
  metrics: Metrics;
}

export interface ProjectorRunner {
  start(): Promise<void>;
  /** Lets the batch in flight finish and commit, then leaves the group. */
  stop(): Promise<void>;
  isRunning(): boolean;
}

/**
 * One consumer group feeding every projection. Per batch and partition: decode, then in one
 * transaction claim the partition's stored offset, apply what lies at or past it, store the new
 * offset; only after COMMIT is the offset committed to Kafka (for lag tooling; Postgres is the
 * truth, so a redelivered batch is skipped, never applied twice).
 */
export function createProjectorRunner(deps: ProjectorDeps): ProjectorRunner {
  const { kafka, pool, codec, metrics } = deps;
  const log = deps.logger.child({ component: 'projector' });
  const byTopic = new Map(deps.projections.map((p) => [p.topic, p]));
  const consumer: Consumer = kafka.consumer({ groupId: deps.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 });
  let running = false;

  async function eachBatch({ batch, ...control }: EachBatchPayload): Promise<void> {
    const projection = byTopic.get(batch.topic);
    if (!projection || batch.messages.length === 0) return;
    const { topic, partition } = batch;
    const events = await Promise.all(batch.messages.map(async (m) => ({ offset: Number(m.offset), event: await codec.decode(m.value, m.headers) })));
    const timer = metrics.batchDuration.startTimer({ projection: projection.name });
    let applied: number;
    try {
      applied = await applyBatch(pool, projection, partition, events);
    } catch (err) {
      metrics.batchFailures.inc({ projection: projection.name });
      log.error({ err, projection: projection.name, topic, partition, firstOffset: batch.firstOffset() }, 'batch failed; it will be retried');
      throw err;
    } finally {
      timer();
    }
    metrics.eventsApplied.inc({ projection: projection.name }, applied);
    control.resolveOffset(batch.lastOffset());
    await consumer.commitOffsets([{ topic, partition, offset: String(Number(batch.lastOffset()) + 1) }]);
    await control.heartbeat();
  }

  return {
    isRunning: () => running,
    async start() {
      await consumer.connect();
      for (const projection of deps.projections) {
        await consumer.subscribe({ topic: projection.topic, fromBeginning: true });
      }
      // Postgres holds the truth: on every assignment, resume each partition from its stored offset.
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        void (async () => {
          for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
            const projection = byTopic.get(topic);
            if (!projection) continue;
            const stored = await storedOffsets(pool, projection.name, topic);
            for (const partition of partitions) {
              const offset = stored.get(partition);
              if (offset !== undefined) consumer.seek({ topic, partition, offset: String(offset) });
            }
          }
        })().catch((err: unknown) => log.warn({ err }, 'could not seek to stored offsets; the transaction guard still skips applied events'));
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
        if (!payload.restart) running = false;
      });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 2, eachBatch });
      running = true;
    },
    async stop() {
      running = false;
      await consumer.disconnect();
    },
  };
}

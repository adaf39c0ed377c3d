import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Pool } from '../shared/db/pool.ts';
import type { EventCodec } from '../shared/events/codec.ts';
import { PermanentEventError } from '../shared/events/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { OffsetGapError, applyBatch, type LoggedEvent } from './apply-batch.ts';
import { backoffMs } from './backoff.ts';
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
  /** Why the projector is not making progress, or undefined when it is. */
  problem(): string | undefined;
}

/**
 * One consumer group feeding every projection. Per batch and partition: decode, then apply in
 * one transaction with the partition's offset in Postgres (see applyBatch); only after COMMIT is
 * the offset committed to Kafka, for lag tooling. Postgres is the truth: on assignment each
 * partition is positioned at its stored offset.
 *
 * A transient failure (database, registry) retries the batch in place with capped, jittered
 * backoff: the partition makes no progress meanwhile, the others go on, and the group does not
 * rebalance. A permanent one (poison event) is rethrown, so the consumer restarts on it.
 */
export function createProjectorRunner(deps: ProjectorDeps): ProjectorRunner {
  const { kafka, pool, codec, metrics } = deps;
  const log = deps.logger.child({ component: 'projector' });
  const byTopic = new Map<string, Projection>();
  for (const projection of deps.projections) {
    if (byTopic.has(projection.topic)) throw new Error(`Two projections read ${projection.topic}; one consumer group feeds one per topic`);
    byTopic.set(projection.topic, projection);
  }
  const consumer: Consumer = kafka.consumer({ groupId: deps.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 });
  let running = false;
  const failing = new Map<string, string>();

  const decodeAll = (messages: KafkaMessage[]): Promise<LoggedEvent[]> =>
    Promise.all(messages.map(async (m) => ({ offset: Number(m.offset), event: await codec.decode(m.value, m.headers) })));

  async function eachBatch({ batch, ...control }: EachBatchPayload): Promise<void> {
    const projection = byTopic.get(batch.topic);
    if (!projection || batch.messages.length === 0) return;
    const { topic, partition } = batch;
    const where = { projection: projection.name, topic, partition, firstOffset: batch.firstOffset() };
    const key = `${topic}/${partition}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const events = await decodeAll(batch.messages);
        const stopTimer = metrics.batchDuration.startTimer({ projection: projection.name });
        const applied = await applyBatch(pool, projection, partition, events).finally(stopTimer);
        metrics.eventsApplied.inc({ projection: projection.name }, applied);
        failing.delete(key);
        control.resolveOffset(batch.lastOffset());
        await consumer.commitOffsets([{ topic, partition, offset: String(Number(batch.lastOffset()) + 1) }]);
        await control.heartbeat();
        return;
      } catch (err) {
        if (err instanceof OffsetGapError) {
          log.warn({ ...where, expected: err.expected }, 'batch starts past the stored offset; seeking back');
          consumer.seek({ topic, partition, offset: String(err.expected) });
          return;
        }
        metrics.batchFailures.inc({ projection: projection.name });
        failing.set(key, `${projection.name} ${key}: ${(err as Error).message}`);
        if (err instanceof PermanentEventError) {
          log.error({ err, ...where }, 'batch holds an event that can never apply');
          throw err;
        }
        log.warn({ err, ...where, attempt }, 'batch failed; retrying');
        // Stopping or revoked: leave the batch unresolved for whoever owns the partition next.
        if (!control.isRunning() || control.isStale()) {
          failing.delete(key);
          return;
        }
        await sleep(backoffMs(attempt));
        await control.heartbeat();
      }
    }
  }

  return {
    problem() {
      if (!running) return 'consumer is not running';
      const [first] = failing.values();
      return first;
    },
    async start() {
      await consumer.connect();
      for (const projection of deps.projections) {
        await consumer.subscribe({ topic: projection.topic, fromBeginning: true });
      }
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        void (async () => {
          for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
            const projection = byTopic.get(topic);
            if (!projection) continue;
            const stored = await storedOffsets(pool, projection.name, topic);
            for (const partition of partitions) {
              consumer.seek({ topic, partition, offset: String(stored.get(partition) ?? 0) });
            }
          }
        })().catch((err: unknown) => log.warn({ err }, 'could not seek to the stored offsets; applyBatch still guards the read model'));
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

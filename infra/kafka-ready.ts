import { setTimeout as sleep } from 'node:timers/promises';
import { Partitioners } from 'kafkajs';
import { createKafka } from '../shared/kafka/client.ts';
import { createLogger } from '../shared/logger.ts';
import { StartupError } from './daemon.ts';

const RETRY_MS = 250;

/** The partition of the group offsets topic that holds `groupId`: Kafka's rule, on Java's `String.hashCode`. */
export function offsetsPartitionOf(groupId: string, offsetsPartitions: number): number {
  let hash = 0;
  for (let i = 0; i < groupId.length; i++) hash = (Math.imul(hash, 31) + groupId.charCodeAt(i)) | 0;
  // As Kafka's Utils.abs: the one int without a positive counterpart counts as 0.
  return (hash === -0x80000000 ? 0 : Math.abs(hash)) % offsetsPartitions;
}

/** Group ids that fall, one each, on every partition of the group offsets topic. */
export function probeGroupIds(offsetsPartitions: number): string[] {
  const ids = new Map<number, string>();
  for (let i = 0; ids.size < offsetsPartitions; i++) {
    const id = `infra-ready-${i}`;
    const partition = offsetsPartitionOf(id, offsetsPartitions);
    if (!ids.has(partition)) ids.set(partition, id);
  }
  return [...ids.values()];
}

/**
 * Waits until a broker that accepts connections also serves what every service asks first: a
 * producer id (for idempotent producers) and a loaded group coordinator on each partition of
 * the group offsets topic. For some seconds after a broker's first start it answers both with
 * "loading" or "not available"; kafkajs retries them, but logs each as an error, so that a
 * service started then begins with a screen of errors that are not. Asked quietly here instead.
 */
export async function awaitBrokerCoordinators(broker: string, offsetsPartitions: number, timeoutMs: number): Promise<void> {
  const kafka = createKafka('infra-ready', [broker], createLogger('infra', 'silent'));
  const groups = probeGroupIds(offsetsPartitions);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const admin = kafka.admin();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    try {
      await producer.connect();
      await admin.connect();
      await admin.describeGroups(groups);
      return;
    } catch (err) {
      if (performance.now() > deadline) throw new StartupError(`Kafka at ${broker} accepts connections but its coordinators did not become ready within ${timeoutMs / 1000} s: ${(err as Error).message}`);
      await sleep(RETRY_MS);
    } finally {
      await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
    }
  }
}

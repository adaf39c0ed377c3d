import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { kafkajsConnection, type KafkaConnection } from '../shared/kafka/client.ts';

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
 * Whether a broker that accepts connections also serves what every service asks first: a
 * producer id (for idempotent producers) and a loaded group coordinator on each partition of
 * the group offsets topic. For some seconds after a broker's first start it answers both with
 * "loading" or "not available"; kafkajs retries them, but logs each as an error, so that a
 * service started then begins with a screen of errors that are not. One quiet, short try.
 */
export async function coordinatorsReady(connection: KafkaConnection, offsetsPartitions: number): Promise<boolean> {
  // Few and short retries: enough for kafkajs to find the coordinator after a metadata refresh
  // (kafkajs also refuses an idempotent producer without any), few enough that the caller's
  // deadline holds.
  const kafka = new Kafka({
    clientId: 'infra-ready',
    ...kafkajsConnection(connection),
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 300 },
    connectionTimeout: 1000,
    requestTimeout: 3000,
  });
  const admin = kafka.admin();
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  try {
    await producer.connect();
    await admin.connect();
    await admin.describeGroups(probeGroupIds(offsetsPartitions));
    return true;
  } catch {
    return false;
  } finally {
    await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
  }
}

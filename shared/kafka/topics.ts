import type { Kafka } from 'kafkajs';

/**
 * Creates the topics that do not exist yet; existing topics are left as they are. The log is the
 * source of truth, so events are kept forever: a projection rebuilds from offset 0.
 */
export async function ensureTopics(kafka: Kafka, topics: string[], partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: partitions,
          replicationFactor: -1,
          configEntries: [{ name: 'retention.ms', value: '-1' }],
        })),
      });
    }
  } finally {
    await admin.disconnect();
  }
}

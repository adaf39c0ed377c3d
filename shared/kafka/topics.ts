import type { Admin, Kafka } from 'kafkajs';

/** How long new topics may take to have a leader on every partition, as every broker sees them. */
const LEADERS_TIMEOUT_MS = 30_000;

/**
 * Creates the topics that do not exist yet; existing topics are left as they are. The log is the
 * source of truth, so events are kept forever: a projection rebuilds from offset 0.
 */
export async function ensureTopics(
  kafka: Kafka,
  topics: string[],
  partitions: number,
  leadersTimeoutMs = LEADERS_TIMEOUT_MS,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      await admin.createTopics({
        topics: missing.map((topic) => ({
          topic,
          numPartitions: partitions,
          replicationFactor: -1,
          configEntries: [{ name: 'retention.ms', value: '-1' }],
        })),
      });
      await untilLed(admin, missing, leadersTimeoutMs);
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * Waits until every partition of `topics` has a leader. kafkajs's own wait gives up when the
 * broker it asks has not heard of a new topic yet, which a cluster's brokers answer for a moment
 * after creating it ("This server does not host this topic-partition").
 */
async function untilLed(admin: Pick<Admin, 'fetchTopicMetadata'>, topics: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics });
      const leaderless = found
        .filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0))
        .map((t) => t.name);
      if (found.length === topics.length && leaderless.length === 0) return;
      last = `without a leader: ${leaderless.join(', ') || 'some not listed'}`;
    } catch (err) {
      if (!isRetriable(err)) throw err;
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `Topics ${topics.join(', ')} were created but have no leader on every partition after ${timeoutMs} ms (${last})`,
  );
}

/** kafkajs marks the errors worth asking again; after its own retries it wraps the last one. */
function isRetriable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const { retriable, cause } = err as Error & { retriable?: boolean };
  return retriable === true || (err.name === 'KafkaJSNumberOfRetriesExceeded' && isRetriable(cause));
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { deadLetterTopicsFrom, type DeadLetterTopics, type Topics } from '../shared/config.ts';
import { ensureTopics } from '../shared/kafka/topics.ts';

export const BENCH_PARTITIONS = 6;

export interface BenchTopics extends Topics {
  deadLetters: DeadLetterTopics;
  all: string[];
}

/** Named by size, so a run of the same size finds the events an earlier run produced. */
export function benchTopics(events: number): BenchTopics {
  const topics = { movieMetadata: `bench-metadata-${events}`, movieRatings: `bench-ratings-${events}` };
  const deadLetters = deadLetterTopicsFrom({
    TOPIC_MOVIE_METADATA: topics.movieMetadata,
    TOPIC_MOVIE_RATINGS: topics.movieRatings,
  });
  return { ...topics, deadLetters, all: [topics.movieMetadata, topics.movieRatings, ...deadLetters.values()] };
}

async function withAdmin<T>(kafka: Kafka, work: (admin: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Records in the topic: the sum over partitions of the high watermark minus the log start. */
export async function recordCount(kafka: Kafka, topic: string): Promise<number> {
  return withAdmin(kafka, async (admin) => {
    if (!(await admin.listTopics()).includes(topic)) return 0;
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  });
}

/** The end offset of every partition, summed: what the projector's stored offsets must reach. */
export async function endOffsetSum(kafka: Kafka, topic: string): Promise<number> {
  return withAdmin(kafka, async (admin) =>
    (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0),
  );
}

export const createBenchTopics = (kafka: Kafka, topics: BenchTopics) =>
  ensureTopics(kafka, topics.all, BENCH_PARTITIONS);

/**
 * Deletes the topics and waits until the broker forgets them: Kafka deletes asynchronously and
 * refuses to create a topic of the same name until it has.
 */
export async function deleteBenchTopics(kafka: Kafka, topics: BenchTopics): Promise<void> {
  await withAdmin(kafka, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const present = topics.all.filter((t) => existing.has(t));
    if (present.length === 0) return;
    await admin.deleteTopics({ topics: present });
    const deadline = Date.now() + 60_000;
    while ((await admin.listTopics()).some((t) => present.includes(t))) {
      if (Date.now() > deadline)
        throw new Error(`Kafka still lists ${present.join(', ')} a minute after deleting them`);
      await sleep(250);
    }
  });
  // The metadata of a deleted topic lingers a little in the controller after listTopics drops it.
  await sleep(1000);
}

/** Removes the bench's consumer groups; a group that never committed may not exist, which is fine. */
export async function deleteGroups(kafka: Kafka, groupIds: readonly string[]): Promise<void> {
  if (groupIds.length === 0) return;
  await withAdmin(kafka, async (admin) => {
    const known = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
    const ours = groupIds.filter((id) => known.has(id));
    if (ours.length > 0) await admin.deleteGroups(ours);
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createOffsetCopy } from '../../projectors/consumer/kafka-offset-copy.ts';
import { createLogger } from '../../shared/logger.ts';
import { createMetrics } from '../../shared/metrics.ts';

type Committed = Array<{ topic: string; partition: number; offset: string }>;

function copyInto(commits: Committed[], fail = false) {
  const consumer = {
    commitOffsets: (offsets: Committed) => {
      commits.push(offsets);
      return fail ? Promise.reject(new Error('coordinator gone')) : Promise.resolve();
    },
  };
  const metrics = createMetrics('test');
  return { copy: createOffsetCopy(consumer, metrics, createLogger('test', 'silent')), metrics };
}

describe('the copy of the offsets to Kafka', () => {
  it("copies each partition's latest stored offset once, when it stops", async () => {
    const commits: Committed[] = [];
    const { copy } = copyInto(commits);
    copy.stored('movie-ratings', 0, 10);
    copy.stored('movie-ratings', 0, 25);
    copy.stored('movie-ratings', 3, 7);
    await copy.stop();
    assert.deepEqual(commits, [
      [
        { topic: 'movie-ratings', partition: 0, offset: '25' },
        { topic: 'movie-ratings', partition: 3, offset: '7' },
      ],
    ]);
  });

  it('copies nothing stored for an assignment the group took away, and nothing when nothing is stored', async () => {
    const commits: Committed[] = [];
    const { copy } = copyInto(commits);
    copy.stored('movie-ratings', 0, 10);
    copy.forgetAssignment();
    await copy.stop();
    assert.deepEqual(commits, []);
  });

  it('counts a failed copy by topic and does not throw', async () => {
    const commits: Committed[] = [];
    const { copy, metrics } = copyInto(commits, true);
    copy.stored('movie-metadata', 1, 4);
    await copy.stop();
    const failures = await metrics.kafkaCommitFailures.get();
    assert.deepEqual(
      failures.values.map((v) => [v.labels.topic, v.value]),
      [['movie-metadata', 1]],
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PartitionBatch } from '../../projectors/pipeline/batch.ts';
import { planBatch, type LogRecord } from '../../projectors/pipeline/plan.ts';
import { settlementOf, type PlannedBatch } from '../../projectors/pipeline/settle.ts';
import { ok, rating, RATINGS_PROJECTION as projection, uuid } from '../support/log-records.ts';

const batch: PartitionBatch = {
  topic: 'movie-ratings',
  partition: 2,
  fetchedOffset: 10,
  nextOffset: 15,
  records: [],
  continuesFrom: undefined,
};

/** A batch of five records planned for the ratings projection, with `m9` parked before it. */
function planned(): PlannedBatch {
  const records: LogRecord[] = [
    ok(10, rating(1, 'm1')),
    { offset: 11, key: 'm2', result: { ok: false, poison: { code: 'not_avro', message: 'garbage \u0000 bytes' } } },
    ok(12, rating(3, 'm2')),
    ok(13, rating(4, 'm9')),
    ok(14, rating(1, 'm1')),
  ];
  const plan = planBatch({
    handles: ['RatingSubmitted', 'RatingDeleted'],
    topicHandles: new Set(['RatingSubmitted', 'RatingDeleted']),
    records,
    parkedKeys: new Set(['m9']),
    seenEventIds: new Set(),
    refused: new Map(),
  });
  const fresh = records.map((r) => ({
    topic: batch.topic,
    partition: batch.partition,
    offset: r.offset,
    key: r.key === null ? null : Buffer.from(r.key, 'latin1'),
    value: null,
    headers: {},
    timestamp: '0',
  }));
  return {
    batch,
    fresh,
    redriveOf: new Map(),
    projections: [{ projection, parked: new Set(['m9']), mine: records, plan }],
  };
}

describe('settlementOf', () => {
  it('writes every outcome but the applied ones, parks the poison key, and rows its dead letter', () => {
    const { projections, report } = settlementOf(planned(), new Map(), 'movie-ratings.dlq');
    const [settled] = projections;
    assert.deepEqual(
      settled!.outcomes.map((o) => [o.offset, o.status]),
      [
        [12, 'parked'],
        [13, 'parked'],
      ],
    );
    assert.deepEqual(settled!.parks, [{ key: 'm2', offset: 11, reason: settled!.parks[0]!.reason }]);
    assert.deepEqual(
      settled!.deadLetterRows.map((r) => [r.offset, r.key, r.code, r.dlqTopic, r.message.includes('\u0000')]),
      [[11, 'm2', 'not_avro', 'movie-ratings.dlq', false]],
    );
    assert.deepEqual(report.parked, [{ projection: 'ratings', keys: 2 }]);
    assert.deepEqual(
      report.deadLetters.map((d) => [d.source.offset, d.code]),
      [[11, 'not_avro']],
    );
  });

  it("counts the fold's refusals as rejected outcomes, and every decision once", () => {
    const refused = new Map([[uuid(1), 'version_conflict']]);
    const { projections, report } = settlementOf(planned(), refused, 'movie-ratings.dlq');
    assert.deepEqual(
      projections[0]!.outcomes.map((o) => [o.offset, o.status, o.reason]),
      [
        [10, 'rejected', 'version_conflict'],
        [12, 'parked', 'an earlier event of its key was dead-lettered'],
        [13, 'parked', 'an earlier event of its key was dead-lettered'],
      ],
    );
    const counts = Object.fromEntries(report.counts.map((c) => [`${c.eventType} ${c.outcome}`, c.count]));
    assert.deepEqual(counts, {
      'RatingSubmitted rejected': 1,
      'unknown dead_lettered': 1,
      'RatingSubmitted parked': 2,
      'unknown duplicate': 1,
    });
  });
});

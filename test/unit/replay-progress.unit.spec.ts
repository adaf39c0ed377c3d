import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { figuresOf, progressBlock, progressLine, summaryLines } from '../../projectors/replay/progress-view.ts';
import type { RebuildProgress } from '../../projectors/replay/rebuild.ts';
import { oldSchemaOf, shortfall } from '../../projectors/replay/shadow.ts';

const progress = (over: Partial<RebuildProgress> = {}): RebuildProgress => ({
  projection: 'ratings',
  phase: 'rebuilding',
  startedFrom: 1000,
  elapsedMs: 2000,
  partitions: [
    { partition: 0, applied: 6000, end: 10_000 },
    { partition: 1, applied: 5000, end: 10_000 },
  ],
  ...over,
});

describe('replay progress', () => {
  it('counts the rate from where this run started, and the time left at that rate', () => {
    // 11,000 applied, 1,000 of them before this run: 10,000 in 2 s; 9,000 to go.
    assert.deepEqual(figuresOf(progress()), { applied: 11_000, end: 20_000, rate: 5000, etaSeconds: 1.8 });
    assert.equal(
      progressLine(progress()),
      'ratings: rebuilding, 11,000 / 20,000 events (55.0%), 5,000 events/s, ETA 2 s',
    );
  });

  it('never shows more to do than done when Kafka was asked before the last batch', () => {
    const ahead = progress({ partitions: [{ partition: 0, applied: 12, end: 10 }], startedFrom: 0 });
    assert.equal(figuresOf(ahead).end, 12);
  });

  it('says the time left is unknown before anything moved', () => {
    assert.match(progressLine(progress({ startedFrom: 11_000 })), /ETA \?$/);
  });

  it('draws a bar for the whole and one per partition', () => {
    assert.deepEqual(progressBlock(progress(), 10), [
      '[######....] ratings: rebuilding, 11,000 / 20,000 events (55.0%), 5,000 events/s, ETA 2 s',
      '  partition  0 [######....] 6,000 / 10,000',
      '  partition  1 [#####.....] 5,000 / 10,000',
    ]);
    assert.deepEqual(progressBlock(progress({ phase: 'dropping old schema', partitions: [] })), [
      'ratings: dropping old schema',
    ]);
  });

  it('sums a rebuild up, saying where the old tables went', () => {
    const summary = {
      projection: 'ratings',
      events: 1,
      resumedFrom: 0,
      seconds: 0.5,
      live: 'ratings',
      old: 'ratings__old_20261202014200',
      dropped: false,
    };
    assert.deepEqual(summaryLines(summary), [
      'ratings: rebuilt 1 event in 0.5 s (2 events/s)',
      '  swapped in: schema ratings now holds the rebuilt tables; the old ones are kept in schema ratings__old_20261202014200',
    ]);
  });
});

describe('replay offsets', () => {
  it('names the partitions where the shadow is behind the live offsets, and by how much', () => {
    const shadow = new Map([
      [0, 10],
      [1, 7],
    ]);
    const live = new Map([
      [0, 8],
      [1, 9],
      [2, 3],
    ]);
    assert.deepEqual(
      [...shortfall(shadow, live)],
      [
        [1, 2],
        [2, 3],
      ],
    );
    assert.equal(shortfall(live, live).size, 0);
  });

  it('names an old schema by the time of its swap', () => {
    assert.equal(oldSchemaOf('ratings', new Date('2026-12-02T01:42:03.123Z')), 'ratings__old_20261202014203');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { foldRatings, ratingKey } from '../../projectors/ratings/fold.ts';
import type { RatingSubmitted } from '../../shared/events/types.ts';

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));

function rated(userId: string, recordId: string, value: number, second = 0): RatingSubmitted {
  return {
    type: 'RatingSubmitted',
    envelope: { eventId: `e-${userId}-${second}`, occurredAt: at(second), principal: userId, correlationId: 'c' },
    recordType: 'movie',
    recordId,
    userId,
    value,
  };
}

describe('foldRatings', () => {
  it('adds first ratings to the aggregate', () => {
    const { rows, deltas } = foldRatings(new Map(), [rated('alice', 'm1', 5), rated('bob', 'm1', 1)]);
    assert.deepEqual(rows, [
      { recordType: 'movie', recordId: 'm1', userId: 'alice', value: 5, updatedAt: at(0) },
      { recordType: 'movie', recordId: 'm1', userId: 'bob', value: 1, updatedAt: at(0) },
    ]);
    assert.deepEqual(deltas, [{ recordType: 'movie', recordId: 'm1', count: 2, sum: 6, distribution: [1, 0, 0, 0, 1] }]);
  });

  it('replaces a stored rating: count unchanged, old value removed', () => {
    const before = new Map([[ratingKey('movie', 'm1', 'alice'), 5]]);
    const { deltas } = foldRatings(before, [rated('alice', 'm1', 3)]);
    assert.deepEqual(deltas, [{ recordType: 'movie', recordId: 'm1', count: 0, sum: -2, distribution: [0, 0, 1, 0, -1] }]);
  });

  it('counts only the last rating of a user within one batch', () => {
    const { rows, deltas } = foldRatings(new Map(), [rated('alice', 'm1', 2, 1), rated('alice', 'm1', 4, 2)]);
    assert.deepEqual(rows, [{ recordType: 'movie', recordId: 'm1', userId: 'alice', value: 4, updatedAt: at(2) }]);
    assert.deepEqual(deltas, [{ recordType: 'movie', recordId: 'm1', count: 1, sum: 4, distribution: [0, 0, 0, 1, 0] }]);
  });

  it('leaves the aggregate alone when a rating is repeated with the same value', () => {
    const before = new Map([[ratingKey('movie', 'm1', 'alice'), 4]]);
    const { rows, deltas } = foldRatings(before, [rated('alice', 'm1', 4, 9)]);
    assert.equal(rows.length, 1);
    assert.deepEqual(deltas, []);
  });

  it('keeps records apart', () => {
    const { deltas } = foldRatings(new Map(), [rated('alice', 'm1', 5), rated('alice', 'm2', 2)]);
    assert.deepEqual(
      deltas.map((d) => [d.recordId, d.count, d.sum]),
      [
        ['m1', 1, 5],
        ['m2', 1, 2],
      ],
    );
  });
});

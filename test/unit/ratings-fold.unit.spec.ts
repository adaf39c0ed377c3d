import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { foldRatings, ratingKey } from '../../projectors/ratings/fold.ts';
import type { RatingDeleted, RatingSubmitted } from '../../shared/events/types.ts';

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));
const envelope = (userId: string, second: number) => ({
  eventId: `e-${userId}-${second}`,
  occurredAt: at(second),
  principal: userId,
  correlationId: 'c',
});

function rated(userId: string, recordId: string, value: number, second = 0): RatingSubmitted {
  return {
    type: 'RatingSubmitted',
    envelope: envelope(userId, second),
    recordType: 'movie',
    recordId,
    userId,
    value,
    providerId: null,
  };
}

function deleted(userId: string, recordId: string, second = 0): RatingDeleted {
  return { type: 'RatingDeleted', envelope: envelope(userId, second), recordType: 'movie', recordId, userId };
}

const stored = (userId: string, recordId: string, value: number) =>
  [ratingKey({ recordType: 'movie', recordId, userId }), value] as const;
const id = (userId: string, recordId: string) => ({ recordType: 'movie', recordId, userId });

describe('foldRatings', () => {
  it('adds first ratings to the aggregate', () => {
    const { changes, rejected } = foldRatings([rated('alice', 'm1', 5), rated('bob', 'm1', 1)], new Map());
    assert.deepEqual(changes, {
      inserts: [
        { ...id('alice', 'm1'), value: 5, updatedAt: at(0) },
        { ...id('bob', 'm1'), value: 1, updatedAt: at(0) },
      ],
      updates: [],
      deletes: [],
      deltas: [{ recordType: 'movie', recordId: 'm1', count: 2, sum: 6, distribution: [1, 0, 0, 0, 1] }],
    });
    assert.deepEqual(rejected, new Map());
  });

  it('replaces a stored rating: count unchanged, old value removed', () => {
    const { changes } = foldRatings([rated('alice', 'm1', 3)], new Map([stored('alice', 'm1', 5)]));
    assert.deepEqual(changes.inserts, []);
    assert.deepEqual(changes.updates, [{ ...id('alice', 'm1'), value: 3, updatedAt: at(0) }]);
    assert.deepEqual(changes.deltas, [
      { recordType: 'movie', recordId: 'm1', count: 0, sum: -2, distribution: [0, 0, 1, 0, -1] },
    ]);
  });

  it('counts only the last rating of a user within one batch', () => {
    const { changes } = foldRatings([rated('alice', 'm1', 2, 1), rated('alice', 'm1', 4, 2)], new Map());
    assert.deepEqual(changes.inserts, [{ ...id('alice', 'm1'), value: 4, updatedAt: at(2) }]);
    assert.deepEqual(changes.deltas, [
      { recordType: 'movie', recordId: 'm1', count: 1, sum: 4, distribution: [0, 0, 0, 1, 0] },
    ]);
  });

  it('leaves the aggregate alone when a rating is repeated with the same value', () => {
    const { changes } = foldRatings([rated('alice', 'm1', 4, 9)], new Map([stored('alice', 'm1', 4)]));
    assert.deepEqual(changes.updates, [{ ...id('alice', 'm1'), value: 4, updatedAt: at(9) }]);
    assert.deepEqual(changes.deltas, []);
  });

  it('removes a deleted rating from the rows and the aggregate', () => {
    const { changes } = foldRatings([deleted('alice', 'm1')], new Map([stored('alice', 'm1', 4)]));
    assert.deepEqual(changes, {
      inserts: [],
      updates: [],
      deletes: [id('alice', 'm1')],
      deltas: [{ recordType: 'movie', recordId: 'm1', count: -1, sum: -4, distribution: [0, 0, 0, -1, 0] }],
    });
  });

  it('ignores the delete of a rating that does not exist', () => {
    assert.deepEqual(foldRatings([deleted('alice', 'm1')], new Map()).changes, {
      inserts: [],
      updates: [],
      deletes: [],
      deltas: [],
    });
  });

  it('folds a rate, delete and rate again within one batch to the last rating', () => {
    const { changes } = foldRatings(
      [rated('alice', 'm1', 2, 1), deleted('alice', 'm1', 2), rated('alice', 'm1', 5, 3)],
      new Map([stored('alice', 'm1', 1)]),
    );
    assert.deepEqual(changes.updates, [{ ...id('alice', 'm1'), value: 5, updatedAt: at(3) }]);
    assert.deepEqual(changes.deltas, [
      { recordType: 'movie', recordId: 'm1', count: 0, sum: 4, distribution: [-1, 0, 0, 0, 1] },
    ]);
    const gone = foldRatings(
      [rated('alice', 'm1', 2, 1), deleted('alice', 'm1', 2)],
      new Map([stored('alice', 'm1', 1)]),
    ).changes;
    assert.deepEqual(gone.deletes, [id('alice', 'm1')]);
    assert.deepEqual(gone.deltas, [
      { recordType: 'movie', recordId: 'm1', count: -1, sum: -1, distribution: [-1, 0, 0, 0, 0] },
    ]);
  });

  it('keeps records apart', () => {
    const { changes } = foldRatings([rated('alice', 'm1', 5), rated('alice', 'm2', 2)], new Map());
    assert.deepEqual(
      changes.deltas.map((d) => [d.recordId, d.count, d.sum]),
      [
        ['m1', 1, 5],
        ['m2', 1, 2],
      ],
    );
  });
});

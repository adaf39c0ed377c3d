import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffMs } from '../../projectors/consumer/backoff.ts';

describe('backoffMs', () => {
  it('doubles from the base up to the cap', () => {
    const ceiling = (attempt: number) => backoffMs(attempt, () => 1);
    assert.deepEqual([1, 2, 3, 4, 6, 7, 20].map(ceiling), [200, 400, 800, 1600, 6400, 10_000, 10_000]);
  });
  it('jitters anywhere between zero and the ceiling', () => {
    assert.equal(
      backoffMs(3, () => 0),
      0,
    );
    assert.equal(
      backoffMs(3, () => 0.5),
      400,
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffMs } from '../../projectors/backoff.ts';
import { InvalidEventError } from '../../shared/events/errors.ts';
import type { RatingSubmitted } from '../../shared/events/types.ts';
import { assertValidEvent } from '../../shared/events/validation.ts';
import { ifNoneMatchHits } from '../../shared/http/etag.ts';

describe('backoffMs', () => {
  it('doubles from the base up to the cap', () => {
    const ceiling = (attempt: number) => backoffMs(attempt, () => 1);
    assert.deepEqual([1, 2, 3, 4, 6, 7, 20].map(ceiling), [200, 400, 800, 1600, 6400, 10_000, 10_000]);
  });
  it('jitters anywhere between zero and the ceiling', () => {
    assert.equal(backoffMs(3, () => 0), 0);
    assert.equal(backoffMs(3, () => 0.5), 400);
  });
});

describe('assertValidEvent', () => {
  const valid: RatingSubmitted = {
    type: 'RatingSubmitted',
    envelope: { eventId: 'e1', occurredAt: new Date(0), principal: 'alice', correlationId: 'c1' },
    recordType: 'movie',
    recordId: 'm1',
    userId: 'alice',
    value: 5,
  };

  it('accepts a valid event', () => {
    assert.doesNotThrow(() => assertValidEvent(valid));
  });

  it('names every broken invariant', () => {
    assert.throws(
      () => assertValidEvent({ ...valid, value: 7, recordId: 'has space', envelope: { ...valid.envelope, occurredAt: new Date(NaN) } }),
      (err: unknown) =>
        err instanceof InvalidEventError &&
        err.message === 'RatingSubmitted e1: occurredAt is not a time; recordId "has space" is not a valid id; value 7 is not 1..5',
    );
  });

  it('refuses metadata without a title', () => {
    assert.throws(
      () =>
        assertValidEvent({
          type: 'MovieMetadataSet',
          envelope: valid.envelope,
          movieId: 'm1',
          title: ' ',
          description: '',
          director: 'D',
          year: null,
          actors: [],
        }),
      InvalidEventError,
    );
  });
});

describe('ifNoneMatchHits', () => {
  it('matches any listed tag under weak comparison, and *', () => {
    assert.equal(ifNoneMatchHits(undefined, '"a"'), false);
    assert.equal(ifNoneMatchHits('"a"', '"a"'), true);
    assert.equal(ifNoneMatchHits('W/"a"', '"a"'), true);
    assert.equal(ifNoneMatchHits('"b", W/"a"', '"a"'), true);
    assert.equal(ifNoneMatchHits('"b"', '"a"'), false);
    assert.equal(ifNoneMatchHits(' * ', '"a"'), true);
  });
});

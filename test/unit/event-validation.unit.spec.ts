import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MovieMetadataSet, RatingSubmitted } from '../../shared/events/types.ts';
import { eventProblems } from '../../shared/events/validation.ts';

describe('eventProblems', () => {
  const eventId = '7d0f5a7e-8a43-4a7e-9a59-0c7f1f3b2a10';
  const valid: RatingSubmitted = {
    type: 'RatingSubmitted',
    envelope: { eventId, occurredAt: new Date(0), principal: 'alice', correlationId: 'c1' },
    recordType: 'movie',
    recordId: 'm1',
    userId: 'alice',
    value: 5,
    providerId: null,
  };
  const metadata: MovieMetadataSet = {
    type: 'MovieMetadataSet',
    envelope: valid.envelope,
    movieId: 'm1',
    title: 'T',
    description: '',
    director: 'D',
    year: null,
    actors: [],
    expectedVersion: null,
  };

  it('finds nothing wrong with valid events', () => {
    assert.deepEqual(eventProblems(valid), []);
    assert.deepEqual(eventProblems(metadata), []);
    assert.deepEqual(
      eventProblems({
        type: 'RatingDeleted',
        envelope: valid.envelope,
        recordType: 'movie',
        recordId: 'm1',
        userId: 'alice',
      }),
      [],
    );
  });

  it('names every broken invariant', () => {
    assert.deepEqual(
      eventProblems({
        ...valid,
        value: 7,
        recordId: 'has space',
        envelope: { ...valid.envelope, occurredAt: new Date(NaN) },
      }),
      ['occurredAt is not a time', 'recordId "has space" is not a valid id', 'value 7 is not 1..5'],
    );
  });

  it('wants a lowercase UUID as event id and a time Postgres can store', () => {
    assert.deepEqual(
      eventProblems({
        ...valid,
        envelope: { ...valid.envelope, eventId: eventId.toUpperCase(), occurredAt: new Date(Date.UTC(10_000, 0)) },
      }),
      [`eventId "${eventId.toUpperCase()}" is not a lowercase UUID`, 'occurredAt year 10000 is outside 1..9999'],
    );
  });

  it('refuses NUL characters, which Postgres cannot store, in any string', () => {
    assert.deepEqual(
      eventProblems({
        ...metadata,
        title: 'a\u0000b',
        actors: ['ok', '\u0000'],
        envelope: { ...valid.envelope, principal: '\u0000' },
      }),
      ['principal contains a NUL character', 'title contains a NUL character', 'actors[1] contains a NUL character'],
    );
  });

  it('refuses metadata without a title or with a negative expected version', () => {
    assert.deepEqual(eventProblems({ ...metadata, title: ' ', expectedVersion: -1 }), [
      'title is empty',
      'expectedVersion -1 is negative',
    ]);
  });
});

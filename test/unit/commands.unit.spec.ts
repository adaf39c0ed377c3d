import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setMetadata } from '../../command-api/movies/set-metadata.ts';
import { submitMovieRating } from '../../command-api/ratings/submit-rating.ts';
import { ValidationError } from '../../shared/errors.ts';

const envelope = { eventId: '00000000-0000-4000-8000-000000000001', occurredAt: new Date(0), principal: 'alice', correlationId: 'corr-1' };

function fieldsOf(run: () => unknown) {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ValidationError);
    return err.fields;
  }
  assert.fail('expected a ValidationError');
}

describe('setMetadata', () => {
  const body = { title: 'Heat', description: 'LA crime saga', director: 'Michael Mann', year: 1995, actors: ['Al Pacino'] };

  it('decides a full-replace event with the given envelope', () => {
    assert.deepEqual(setMetadata('tt0113277', body, { envelope }), { type: 'MovieMetadataSet', envelope, movieId: 'tt0113277', ...body, expectedVersion: null });
  });

  it('defaults year to null and actors to empty', () => {
    const event = setMetadata('m1', { title: 'T', description: '', director: 'D' }, { envelope });
    assert.equal(event.year, null);
    assert.deepEqual(event.actors, []);
  });

  it('names every offending field', () => {
    assert.deepEqual(fieldsOf(() => setMetadata('bad id!', { title: ' ', director: 7, year: 1.5, actors: [''], extra: true }, { envelope })), [
      { field: 'movieId', message: 'must be 1 to 64 letters, digits or ._~-' },
    ]);
    assert.deepEqual(
      fieldsOf(() => setMetadata('m1', { title: ' ', director: 7, year: 1.5, actors: [''], extra: true }, { envelope }))?.map((f) => f.field),
      ['title', 'description', 'director', 'year', 'actors.0', 'extra'],
    );
  });

  it('refuses a body that is not an object', () => {
    assert.deepEqual(fieldsOf(() => setMetadata('m1', null, { envelope }))?.map((f) => f.field), ['body']);
  });
});

describe('submitMovieRating', () => {
  it('takes the user from the envelope, never the body', () => {
    assert.deepEqual(submitMovieRating('m1', { value: 4 }, { envelope }), {
      type: 'RatingSubmitted',
      envelope,
      recordType: 'movie',
      recordId: 'm1',
      userId: 'alice',
      value: 4,
      providerId: null,
    });
    assert.deepEqual(fieldsOf(() => submitMovieRating('m1', { value: 4, userId: 'mallory' }, { envelope }))?.map((f) => f.field), ['userId']);
  });

  for (const value of [0, 6, 2.5, '5', null]) {
    it(`refuses value ${JSON.stringify(value)}`, () => {
      assert.deepEqual(fieldsOf(() => submitMovieRating('m1', { value }, { envelope }))?.map((f) => f.field), ['value']);
    });
  }
});

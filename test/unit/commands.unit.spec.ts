import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setMetadata } from '../../command-api/movies/set-metadata.ts';
import { deleteMovieRating } from '../../command-api/ratings/delete-rating.ts';
import { MAX_BATCH_RATINGS, submitProviderRatings } from '../../command-api/ratings/submit-batch.ts';
import { submitMovieRating } from '../../command-api/ratings/submit-rating.ts';
import { ValidationError } from '../../shared/errors.ts';

const envelope = {
  eventId: '00000000-0000-4000-8000-000000000001',
  occurredAt: new Date(0),
  principal: 'alice',
  correlationId: 'corr-1',
};

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
  const body = {
    title: 'Heat',
    description: 'LA crime saga',
    director: 'Michael Mann',
    year: 1995,
    actors: ['Al Pacino'],
  };

  it('decides a full-replace event with the given envelope', () => {
    assert.deepEqual(setMetadata('tt0113277', body, { envelope }), {
      type: 'MovieMetadataSet',
      envelope,
      movieId: 'tt0113277',
      ...body,
      expectedVersion: null,
    });
  });

  it('defaults year to null and actors to empty', () => {
    const event = setMetadata('m1', { title: 'T', description: '', director: 'D' }, { envelope });
    assert.equal(event.year, null);
    assert.deepEqual(event.actors, []);
  });

  it('names every offending field', () => {
    assert.deepEqual(
      fieldsOf(() =>
        setMetadata('bad id!', { title: ' ', director: 7, year: 1.5, actors: [''], extra: true }, { envelope }),
      ),
      [{ field: 'movieId', message: 'must be 1 to 64 letters, digits or ._~-' }],
    );
    assert.deepEqual(
      fieldsOf(() =>
        setMetadata('m1', { title: ' ', director: 7, year: 1.5, actors: [''], extra: true }, { envelope }),
      )?.map((f) => f.field),
      ['title', 'description', 'director', 'year', 'actors.0', 'extra'],
    );
  });

  it('refuses a body that is not an object', () => {
    assert.deepEqual(
      fieldsOf(() => setMetadata('m1', null, { envelope }))?.map((f) => f.field),
      ['body'],
    );
  });

  it('refuses text no read model could keep, or that shows nothing', () => {
    const refused = (field: 'title' | 'description' | 'director', text: string) =>
      fieldsOf(() => setMetadata('m1', { title: 'T', description: '', director: 'D', [field]: text }, { envelope }));
    assert.deepEqual(refused('title', 'Bad\u0000title'), [
      { field: 'title', message: 'must not contain NUL characters' },
    ]);
    assert.deepEqual(refused('description', 'half a pair \ud800'), [
      { field: 'description', message: 'must be well-formed Unicode (no lone surrogates)' },
    ]);
    assert.deepEqual(refused('director', '\u200b\u200b'), [
      { field: 'director', message: 'must contain a visible character' },
    ]);
    assert.deepEqual(refused('title', '   '), [{ field: 'title', message: 'must contain a visible character' }]);
  });

  it('trims names and keeps a description as given', () => {
    const event = setMetadata(
      'm1',
      { title: '  Heat ', description: ' as given ', director: 'Michael Mann\n', actors: [' Al Pacino'] },
      { envelope },
    );
    assert.deepEqual(
      [event.title, event.description, event.director, event.actors],
      ['Heat', ' as given ', 'Michael Mann', ['Al Pacino']],
    );
  });
});

describe('deleteMovieRating', () => {
  it("takes back the caller's own rating", () => {
    assert.deepEqual(deleteMovieRating('m1', { envelope }), {
      type: 'RatingDeleted',
      envelope,
      recordType: 'movie',
      recordId: 'm1',
      userId: 'alice',
    });
  });

  it('refuses an id that cannot exist', () => {
    assert.deepEqual(
      fieldsOf(() => deleteMovieRating('no such/id', { envelope })),
      [{ field: 'movieId', message: 'must be 1 to 64 letters, digits or ._~-' }],
    );
  });
});

describe('submitProviderRatings', () => {
  const envelopes = (count: number) =>
    Array.from({ length: count }, (_, i) => ({
      ...envelope,
      eventId: `00000000-0000-4000-8000-00000000000${i}`,
      principal: 'feed',
    }));

  it('decides one rating per item, in order, each with its own envelope and the provider', () => {
    const events = submitProviderRatings(
      {
        providerId: 'imdb',
        ratings: [
          { movieId: 'm1', userId: 'auth0|7', value: 5 },
          { movieId: 'm2', userId: 'a@b.c', value: 1 },
        ],
      },
      envelopes,
    );
    assert.deepEqual(events, [
      {
        type: 'RatingSubmitted',
        envelope: envelopes(2)[0],
        recordType: 'movie',
        recordId: 'm1',
        userId: 'auth0|7',
        value: 5,
        providerId: 'imdb',
      },
      {
        type: 'RatingSubmitted',
        envelope: envelopes(2)[1],
        recordType: 'movie',
        recordId: 'm2',
        userId: 'a@b.c',
        value: 1,
        providerId: 'imdb',
      },
    ]);
  });

  it('refuses the whole batch, naming every offending item', () => {
    const body = {
      providerId: 'bad provider',
      ratings: [
        { movieId: 'm1', userId: 'ok', value: 5 },
        { movieId: 'm 2', userId: 'has space', value: 6, extra: 1 },
      ],
    };
    assert.deepEqual(
      fieldsOf(() => submitProviderRatings(body, envelopes))?.map((f) => f.field),
      ['providerId', 'ratings.1.movieId', 'ratings.1.userId', 'ratings.1.value', 'ratings.1.extra'],
    );
  });

  it('takes 1 to MAX_BATCH_RATINGS items', () => {
    const item = { movieId: 'm1', userId: 'u', value: 3 };
    assert.deepEqual(
      fieldsOf(() => submitProviderRatings({ providerId: 'p', ratings: [] }, envelopes)),
      [{ field: 'ratings', message: 'must hold at least one rating' }],
    );
    assert.deepEqual(
      fieldsOf(() =>
        submitProviderRatings({ providerId: 'p', ratings: Array(MAX_BATCH_RATINGS + 1).fill(item) }, envelopes),
      ),
      [{ field: 'ratings', message: `must hold at most ${MAX_BATCH_RATINGS} ratings` }],
    );
    assert.equal(
      submitProviderRatings({ providerId: 'p', ratings: Array(MAX_BATCH_RATINGS).fill(item) }, (n) =>
        Array.from({ length: n }, () => envelope),
      ).length,
      MAX_BATCH_RATINGS,
    );
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
    assert.deepEqual(
      fieldsOf(() => submitMovieRating('m1', { value: 4, userId: 'mallory' }, { envelope }))?.map((f) => f.field),
      ['userId'],
    );
  });

  for (const value of [0, 6, 2.5, '5', null]) {
    it(`refuses value ${JSON.stringify(value)}`, () => {
      assert.deepEqual(
        fieldsOf(() => submitMovieRating('m1', { value }, { envelope }))?.map((f) => f.field),
        ['value'],
      );
    });
  }
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { foldMovieMetadata } from '../../projectors/movie-details/fold.ts';
import type { MovieMetadataSet } from '../../shared/events/types.ts';

function set(movieId: string, title: string, second = 0): MovieMetadataSet {
  return {
    type: 'MovieMetadataSet',
    envelope: { eventId: `e-${second}`, occurredAt: new Date(second * 1000), principal: 'admin', correlationId: 'c' },
    movieId,
    title,
    description: 'd',
    director: 'x',
    year: null,
    actors: [],
  };
}

describe('foldMovieMetadata', () => {
  it('creates a movie at version 1', () => {
    const [row] = foldMovieMetadata(new Map(), [set('m1', 'First')]);
    assert.deepEqual(row, {
      movieId: 'm1',
      title: 'First',
      description: 'd',
      director: 'x',
      year: null,
      actors: [],
      version: 1,
      updatedAt: new Date(0),
    });
  });

  it('keeps the last change of a batch and counts every change in the version', () => {
    const rows = foldMovieMetadata(new Map([['m1', 4]]), [set('m1', 'A', 1), set('m2', 'B', 2), set('m1', 'C', 3)]);
    assert.deepEqual(
      rows.map((r) => [r.movieId, r.title, r.version, r.updatedAt.getTime()]),
      [
        ['m1', 'C', 6, 3000],
        ['m2', 'B', 1, 2000],
      ],
    );
  });
});

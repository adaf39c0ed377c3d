import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { foldMovieMetadata } from '../../projectors/movie-details/fold.ts';
import type { MovieMetadataSet } from '../../shared/events/types.ts';

function set(movieId: string, title: string, second = 0, expectedVersion: number | null = null): MovieMetadataSet {
  return {
    type: 'MovieMetadataSet',
    envelope: { eventId: `e-${second}`, occurredAt: new Date(second * 1000), principal: 'admin', correlationId: 'c' },
    movieId,
    title,
    description: 'd',
    director: 'x',
    year: null,
    actors: [],
    expectedVersion,
  };
}

describe('foldMovieMetadata', () => {
  it('creates a movie at version 1', () => {
    assert.deepEqual(foldMovieMetadata([set('m1', 'First')], new Map()), {
      changes: [
        {
          movieId: 'm1',
          title: 'First',
          description: 'd',
          director: 'x',
          year: null,
          actors: [],
          version: 1,
          updatedAt: new Date(0),
        },
      ],
      rejected: new Map(),
    });
  });

  it('keeps the last change of a batch and counts every change in the version', () => {
    const { changes } = foldMovieMetadata(
      [set('m1', 'A', 1), set('m2', 'B', 2), set('m1', 'C', 3)],
      new Map([['m1', 4]]),
    );
    assert.deepEqual(
      changes.map((r) => [r.movieId, r.title, r.version, r.updatedAt.getTime()]),
      [
        ['m1', 'C', 6, 3000],
        ['m2', 'B', 1, 2000],
      ],
    );
  });

  it('applies a change that expected the current version, counting earlier changes of the batch', () => {
    const { changes, rejected } = foldMovieMetadata([set('m1', 'A', 1, 4), set('m1', 'B', 2, 5)], new Map([['m1', 4]]));
    assert.deepEqual(
      changes.map((r) => [r.title, r.version]),
      [['B', 6]],
    );
    assert.deepEqual(rejected, new Map());
  });

  it('rejects a change that expected another version, and leaves the movie as it was', () => {
    const { changes, rejected } = foldMovieMetadata(
      [set('m1', 'Stale', 1, 3), set('m2', 'New', 2, 0), set('m3', 'Gone', 3, 0)],
      new Map([
        ['m1', 4],
        ['m3', 1],
      ]),
    );
    assert.deepEqual(
      changes.map((r) => [r.movieId, r.version]),
      [['m2', 1]],
    );
    assert.deepEqual(
      rejected,
      new Map([
        ['e-1', 'version_conflict'],
        ['e-3', 'version_conflict'],
      ]),
    );
  });
});

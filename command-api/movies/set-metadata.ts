import { z } from 'zod';
import { AppError, ValidationError } from '../../shared/errors.ts';
import type { MovieMetadataSet } from '../../shared/events/types.ts';
import { parseOrThrow } from '../../shared/parse.ts';
import { idSchema, textSchema, visibleTextSchema, type CommandContext } from '../command.ts';

export const metadataBodySchema = z.strictObject({
  title: visibleTextSchema(300),
  description: textSchema(10_000),
  director: visibleTextSchema(200),
  year: z.number().int('must be an integer').min(1870).max(2100).nullable().optional(),
  actors: z.array(visibleTextSchema(200)).max(500, 'must list at most 500 actors').optional(),
});

const IF_MATCH = /^"(0|[1-9][0-9]{0,8})"$/;

/**
 * The version an `If-Match: "<version>"` header expects the movie to be at (0: not created yet),
 * or null without the header. Any other value is refused: a precondition the server cannot
 * read must not be dropped silently.
 */
export function expectedVersionOf(header: string | string[] | undefined): number | null {
  if (header === undefined) return null;
  const match = typeof header === 'string' ? IF_MATCH.exec(header.trim()) : null;
  if (!match)
    throw new ValidationError([
      {
        field: 'If-Match',
        message: 'must be one quoted version number, such as "3" (the version field of the movie; "0" for a new movie)',
      },
    ]);
  return Number(match[1]);
}

export class VersionMismatchError extends AppError {
  constructor(expected: number, current: number) {
    super(
      'version-mismatch',
      412,
      'Precondition failed',
      `If-Match expected version ${expected}, but the movie is at version ${current}.`,
    );
  }
}

/** Refuses the command at accept time when the read model already shows another version. */
export function checkExpectedVersion(expected: number | null, current: number): void {
  if (expected !== null && expected !== current) throw new VersionMismatchError(expected, current);
}

/**
 * Decides the event for "set a movie's metadata" (a full replace), or refuses the input. The
 * event carries the expected version, so the projector rejects it if another write got there
 * first, after the accept-time check.
 */
export function setMetadata(
  movieId: string,
  body: unknown,
  { envelope }: CommandContext,
  expectedVersion: number | null = null,
): MovieMetadataSet {
  const id = parseOrThrow(idSchema, movieId, 'movieId');
  const fields = parseOrThrow(metadataBodySchema, body, '');
  return {
    type: 'MovieMetadataSet',
    envelope,
    movieId: id,
    title: fields.title,
    description: fields.description,
    director: fields.director,
    year: fields.year ?? null,
    actors: fields.actors ?? [],
    expectedVersion,
  };
}

import { z } from 'zod';
import type { MovieMetadataSet } from '../../shared/events/types.ts';
import { idSchema, parseOrThrow, textSchema, visibleTextSchema, type CommandContext } from '../command.ts';

const bodySchema = z.strictObject({
  title: visibleTextSchema(300),
  description: textSchema(10_000),
  director: visibleTextSchema(200),
  year: z.number().int('must be an integer').min(1870).max(2100).nullable().optional(),
  actors: z.array(visibleTextSchema(200)).max(500, 'must list at most 500 actors').optional(),
});

/** Decides the event for "set a movie's metadata" (a full replace), or refuses the input. */
export function setMetadata(movieId: string, body: unknown, { envelope }: CommandContext): MovieMetadataSet {
  const id = parseOrThrow(idSchema, movieId, 'movieId');
  const fields = parseOrThrow(bodySchema, body, '');
  return {
    type: 'MovieMetadataSet',
    envelope,
    movieId: id,
    title: fields.title,
    description: fields.description,
    director: fields.director,
    year: fields.year ?? null,
    actors: fields.actors ?? [],
    expectedVersion: null,
  };
}

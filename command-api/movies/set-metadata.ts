import { z } from 'zod';
import type { MovieMetadataSet } from '../../shared/events/types.ts';
import { idSchema, parseOrThrow, type CommandContext } from '../command.ts';

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

const bodySchema = z.strictObject({
  title: text(300),
  description: z.string().max(10_000, 'must be at most 10000 characters'),
  director: text(200),
  year: z.number().int('must be an integer').min(1870).max(2100).nullable().optional(),
  actors: z.array(text(200)).max(500, 'must list at most 500 actors').optional(),
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

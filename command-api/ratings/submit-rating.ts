import { z } from 'zod';
import type { RatingSubmitted } from '../../shared/events/types.ts';
import { parseOrThrow } from '../../shared/parse.ts';
import { idSchema, type CommandContext } from '../command.ts';

export const ratingBodySchema = z.strictObject({
  value: z.number().int('must be an integer').min(1, 'must be between 1 and 5').max(5, 'must be between 1 and 5'),
});

/** Decides the event for "a user rates a movie". The user is the caller, never the body. */
export function submitMovieRating(movieId: string, body: unknown, { envelope }: CommandContext): RatingSubmitted {
  const id = parseOrThrow(idSchema, movieId, 'movieId');
  const { value } = parseOrThrow(ratingBodySchema, body, '');
  return {
    type: 'RatingSubmitted',
    envelope,
    recordType: 'movie',
    recordId: id,
    userId: envelope.principal,
    value,
    providerId: null,
  };
}

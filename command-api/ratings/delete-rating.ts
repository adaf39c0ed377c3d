import type { RatingDeleted } from '../../shared/events/types.ts';
import { parseOrThrow } from '../../shared/parse.ts';
import { idSchema, type CommandContext } from '../command.ts';

/** Decides the event for "a user takes back their rating of a movie": always the caller's own. */
export function deleteMovieRating(movieId: string, { envelope }: CommandContext): RatingDeleted {
  const id = parseOrThrow(idSchema, movieId, 'movieId');
  return { type: 'RatingDeleted', envelope, recordType: 'movie', recordId: id, userId: envelope.principal };
}

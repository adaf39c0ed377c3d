import { z } from 'zod';
import type { EventEnvelope, RatingSubmitted } from '../../shared/events/types.ts';
import { parseOrThrow } from '../../shared/parse.ts';
import { idSchema, userIdSchema } from '../command.ts';

export const MAX_BATCH_RATINGS = 1000;

export const batchBodySchema = z.strictObject({
  providerId: idSchema,
  ratings: z
    .array(
      z.strictObject({
        movieId: idSchema,
        userId: userIdSchema,
        value: z.number().int('must be an integer').min(1, 'must be between 1 and 5').max(5, 'must be between 1 and 5'),
      }),
    )
    .min(1, 'must hold at least one rating')
    .max(MAX_BATCH_RATINGS, `must hold at most ${MAX_BATCH_RATINGS} ratings`),
});

/**
 * Decides the events of a provider's bulk import: one RatingSubmitted per item, in the order
 * given (so a user rated twice ends with the later value), or refuses the whole batch, naming
 * every offending item. `envelopes(n)` mints one envelope per event.
 */
export function submitProviderRatings(body: unknown, envelopes: (count: number) => EventEnvelope[]): RatingSubmitted[] {
  const { providerId, ratings } = parseOrThrow(batchBodySchema, body, '');
  const minted = envelopes(ratings.length);
  return ratings.map((r, i) => ({
    type: 'RatingSubmitted',
    envelope: minted[i]!,
    recordType: 'movie',
    recordId: r.movieId,
    userId: r.userId,
    value: r.value,
    providerId,
  }));
}

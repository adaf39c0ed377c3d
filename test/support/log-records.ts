import type { LogRecord } from '../../projectors/pipeline/plan.ts';
import type { Projection } from '../../projectors/projection.ts';
import type { RatingSubmitted } from '../../shared/events/types.ts';

/** Decoded records as the pipeline's plan and settlement see them, for their unit tests. */

/** A valid event id, numbered. */
export const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** A rating of `recordId`, its event id numbered `n`. */
export function rating(n: number, recordId: string): RatingSubmitted {
  return {
    type: 'RatingSubmitted',
    envelope: { eventId: uuid(n), occurredAt: new Date(0), principal: 'u', correlationId: 'c' },
    recordType: 'movie',
    recordId,
    userId: 'u',
    value: 3,
    providerId: null,
  };
}

/** A record at `offset` that decoded to `event`, keyed by its record id. */
export const ok = (offset: number, event: RatingSubmitted): LogRecord => ({
  offset,
  key: event.recordId,
  result: { ok: true, event, schemaVersion: 2 },
});

/** The ratings projection as the pipeline's pure steps see it: its name, schema, topic and event types. */
export const RATINGS_PROJECTION = {
  name: 'ratings',
  schema: 'ratings',
  topic: 'movie-ratings',
  handles: ['RatingSubmitted', 'RatingDeleted'],
} as unknown as Projection;

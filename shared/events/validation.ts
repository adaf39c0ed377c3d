import { InvalidEventError } from './errors.ts';
import { ID_PATTERN, type CatalogueEvent } from './types.ts';

/**
 * The invariants an event must hold before a projection may apply it. The command API never
 * writes an event that breaks them; this guards the read models against every other writer.
 */
export function assertValidEvent(event: CatalogueEvent): void {
  const problems: string[] = [];
  if (!event.envelope.eventId) problems.push('eventId is empty');
  if (Number.isNaN(event.envelope.occurredAt.getTime())) problems.push('occurredAt is not a time');
  switch (event.type) {
    case 'MovieMetadataSet':
      if (!ID_PATTERN.test(event.movieId)) problems.push(`movieId ${JSON.stringify(event.movieId)} is not a valid id`);
      if (event.title.trim() === '') problems.push('title is empty');
      if (event.director.trim() === '') problems.push('director is empty');
      break;
    case 'RatingSubmitted':
      if (!ID_PATTERN.test(event.recordId)) problems.push(`recordId ${JSON.stringify(event.recordId)} is not a valid id`);
      if (!ID_PATTERN.test(event.userId)) problems.push(`userId ${JSON.stringify(event.userId)} is not a valid id`);
      if (!Number.isInteger(event.value) || event.value < 1 || event.value > 5) problems.push(`value ${event.value} is not 1..5`);
      break;
  }
  if (problems.length > 0) throw new InvalidEventError(`${event.type} ${event.envelope.eventId}: ${problems.join('; ')}`);
}

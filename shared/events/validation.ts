import { ID_PATTERN, USER_ID_PATTERN, type CatalogueEvent } from './types.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Event ids are lowercase UUIDs, one spelling per id, so that deduplication compares like with like. */
export const isEventId = (value: string) => UUID.test(value);

/** Postgres text and jsonb refuse NUL; catching it here dead-letters the event instead of failing a batch. */
const hasNul = (value: string) => value.includes('\u0000');

function checkId(problems: string[], name: string, value: string, pattern = ID_PATTERN): void {
  if (!pattern.test(value)) problems.push(`${name} ${JSON.stringify(value)} is not a valid id`);
}

function checkText(problems: string[], name: string, value: string | null): void {
  if (value !== null && hasNul(value)) problems.push(`${name} contains a NUL character`);
}

/**
 * The invariants an event must hold before a projection may apply it, as a list of problems
 * (empty when valid). The command API never writes an event that breaks them; this guards the
 * read models against every other writer.
 */
export function eventProblems(event: CatalogueEvent): string[] {
  const problems: string[] = [];
  const { envelope } = event;
  if (!isEventId(envelope.eventId))
    problems.push(`eventId ${JSON.stringify(envelope.eventId)} is not a lowercase UUID`);
  const year = envelope.occurredAt.getUTCFullYear();
  if (Number.isNaN(year)) problems.push('occurredAt is not a time');
  else if (year < 1 || year > 9999) problems.push(`occurredAt year ${year} is outside 1..9999`);
  checkText(problems, 'principal', envelope.principal);
  checkText(problems, 'correlationId', envelope.correlationId);
  switch (event.type) {
    case 'MovieMetadataSet':
      checkId(problems, 'movieId', event.movieId);
      if (event.title.trim() === '') problems.push('title is empty');
      if (event.director.trim() === '') problems.push('director is empty');
      checkText(problems, 'title', event.title);
      checkText(problems, 'description', event.description);
      checkText(problems, 'director', event.director);
      event.actors.forEach((actor, i) => checkText(problems, `actors[${i}]`, actor));
      if (event.expectedVersion !== null && event.expectedVersion < 0)
        problems.push(`expectedVersion ${event.expectedVersion} is negative`);
      break;
    case 'RatingSubmitted':
      checkId(problems, 'recordType', event.recordType);
      checkId(problems, 'recordId', event.recordId);
      checkId(problems, 'userId', event.userId, USER_ID_PATTERN);
      if (!Number.isInteger(event.value) || event.value < 1 || event.value > 5)
        problems.push(`value ${event.value} is not 1..5`);
      if (event.providerId !== null) checkId(problems, 'providerId', event.providerId);
      break;
    case 'RatingDeleted':
      checkId(problems, 'recordType', event.recordType);
      checkId(problems, 'recordId', event.recordId);
      checkId(problems, 'userId', event.userId, USER_ID_PATTERN);
      break;
  }
  return problems;
}

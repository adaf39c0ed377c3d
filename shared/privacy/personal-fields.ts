import type {
  CatalogueEvent,
  EventEnvelope,
  MovieMetadataSet,
  RatingDeleted,
  RatingSubmitted,
} from '../events/types.ts';
import { openField, sealField, type DataKey, type SealedField } from './sealed-field.ts';

/** The envelope as it is written from now on: who sent the event, sealed under their own key. */
export type SealedEnvelope = Omit<EventEnvelope, 'principal'> & { principal: SealedField };

/** An event as it is written from now on: each personal field sealed under its subject's key. */
export type SealedEvent =
  | (Omit<MovieMetadataSet, 'envelope'> & { envelope: SealedEnvelope })
  | (Omit<RatingSubmitted, 'envelope' | 'userId'> & { envelope: SealedEnvelope; userId: SealedField })
  | (Omit<RatingDeleted, 'envelope' | 'userId'> & { envelope: SealedEnvelope; userId: SealedField });

/** An event as the log holds it: sealed, or with clear ids when written before sealing began. */
export type LoggedEvent = CatalogueEvent | SealedEvent;

/**
 * The principal of an event whose sender is forgotten. It holds a space, which no user id may
 * (USER_ID_PATTERN), so it is never taken for one.
 */
export const FORGOTTEN_PRINCIPAL = 'forgotten subject';

/**
 * What an event gives once its personal fields are read: the event with its ids, or `forgotten`
 * when the subject it is about (the rating's user) is forgotten, and then it decides nothing. A
 * forgotten sender alone does not make an event forgotten: a movie's metadata stays, under
 * FORGOTTEN_PRINCIPAL.
 */
export type Unsealed = { kind: 'open'; event: CatalogueEvent } | { kind: 'forgotten' };

export interface SubjectKeys {
  /** A destroyed or unknown key is undefined. */
  keyOf(keyId: string): Buffer | undefined;
  /** Whether a subject named in clear (an event written before sealing began) is forgotten. */
  isForgotten(subject: string): boolean;
}

/** The subjects whose keys sealing the event takes: its sender and, for a rating, its user. */
export function subjectsOf(event: CatalogueEvent): string[] {
  const subjects = [event.envelope.principal];
  if (event.type !== 'MovieMetadataSet' && event.userId !== event.envelope.principal) subjects.push(event.userId);
  return subjects;
}

/** Each field is bound to its event and its name, so that it opens nowhere else. */
const contextOf = (eventId: string, field: 'principal' | 'userId') => `${eventId} ${field}`;

/** The event with its personal fields sealed, each under the key of the subject it names. */
export function sealEvent(event: CatalogueEvent, keyFor: (subject: string) => DataKey): SealedEvent {
  const { eventId, principal } = event.envelope;
  const envelope = {
    ...event.envelope,
    principal: sealField(keyFor(principal), principal, contextOf(eventId, 'principal')),
  };
  if (event.type === 'MovieMetadataSet') return { ...event, envelope };
  return { ...event, envelope, userId: sealField(keyFor(event.userId), event.userId, contextOf(eventId, 'userId')) };
}

/** The event with its personal fields read, with the keys that still exist (see Unsealed). */
export function unsealEvent(event: LoggedEvent, keys: SubjectKeys): Unsealed {
  const { eventId } = event.envelope;
  const read = (field: string | SealedField, name: 'principal' | 'userId'): string | undefined => {
    if (typeof field === 'string') return keys.isForgotten(field) ? undefined : field;
    const opened = openField(field, (keyId) => keys.keyOf(keyId), contextOf(eventId, name));
    return opened.kind === 'open' ? opened.value : undefined;
  };
  const envelope = { ...event.envelope, principal: read(event.envelope.principal, 'principal') ?? FORGOTTEN_PRINCIPAL };
  if (event.type === 'MovieMetadataSet') return { kind: 'open', event: { ...event, envelope } };
  const userId = read(event.userId, 'userId');
  if (userId === undefined) return { kind: 'forgotten' };
  return { kind: 'open', event: { ...event, envelope, userId } };
}

import { z } from 'zod';
import { ID_PATTERN, USER_ID_PATTERN, type EventEnvelope } from '../shared/events/types.ts';

/** What a command handler is given besides the request: ids and time come from outside. */
export interface CommandContext {
  envelope: EventEnvelope;
}

export const idSchema = z.string().regex(ID_PATTERN, 'must be 1 to 64 letters, digits or ._~-');
export const userIdSchema = z.string().regex(USER_ID_PATTERN, 'must be 1 to 128 printable characters without spaces');

/**
 * Free text a read model can keep and a reader can see: no NUL (Postgres refuses it), no lone
 * surrogate (not Unicode, so not storable as UTF-8), and at least one visible character.
 */
export const textSchema = (max: number, { trim = false } = {}) =>
  (trim ? z.string().trim() : z.string())
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters')
    .refine((s) => s.isWellFormed(), 'must be well-formed Unicode (no lone surrogates)');

export const visibleTextSchema = (max: number) =>
  textSchema(max, { trim: true }).refine((s) => /[^\s\p{C}]/u.test(s), 'must contain a visible character');

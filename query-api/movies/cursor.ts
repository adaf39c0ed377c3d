import { ValidationError } from '../../shared/errors.ts';
import { ID_PATTERN } from '../../shared/events/types.ts';

/**
 * A page cursor: the last movie id of a page and the filter it was listed under, base64url JSON.
 * Opaque to clients, and harmless if forged: all it can say is "after this id", and a cursor of
 * another filter is refused rather than silently mixing two listings.
 */
export function encodeCursor(after: string, director: string | null): string {
  return Buffer.from(JSON.stringify({ a: after, d: director }), 'utf8').toString('base64url');
}

const refused = () =>
  new ValidationError([{ field: 'cursor', message: 'is not a cursor of this listing; start again without one' }]);

export function decodeCursor(cursor: string, director: string | null): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw refused();
  }
  const { a, d } = (parsed ?? {}) as { a?: unknown; d?: unknown };
  if (
    typeof a !== 'string' ||
    !ID_PATTERN.test(a) ||
    (d ?? null) !== director ||
    !/^[A-Za-z0-9_-]{1,400}$/.test(cursor)
  )
    throw refused();
  return a;
}

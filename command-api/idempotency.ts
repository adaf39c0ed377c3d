import { createHash } from 'node:crypto';
import { AppError, ValidationError } from '../shared/errors.ts';
import { derivedEventId } from '../shared/events/event-id.ts';
import type { CatalogueEvent } from '../shared/events/types.ts';

/** Who used which key: keys are scoped per principal, so two callers never collide. */
export interface IdempotencyScope {
  principal: string;
  key: string;
}

/** What a claim found: the key is new (or expired), a retry of the same request, or another request. */
export type Claim =
  { kind: 'first'; acceptedAt: Date } | { kind: 'retry'; acceptedAt: Date; answer: unknown } | { kind: 'conflict' };

/** Where keys live; shared by every command-api instance. */
export interface IdempotencyStore {
  /** Takes the key for this request, or finds who took it. */
  claim(scope: IdempotencyScope, fingerprint: string, acceptedAt: Date): Promise<Claim>;
  /** Gives a key back that was claimed by a first attempt refused before anything was written. */
  release(scope: IdempotencyScope): Promise<void>;
  /** Keeps the answer for retries, once Kafka has acknowledged. */
  complete(scope: IdempotencyScope, answer: unknown): Promise<void>;
}

const KEY_PATTERN = /^[!-~]{1,255}$/;

/** The Idempotency-Key of a request, if it has one: 1 to 255 printable ASCII characters. */
export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !KEY_PATTERN.test(header)) {
    throw new ValidationError([
      { field: 'Idempotency-Key', message: 'must be one header of 1 to 255 printable characters without spaces' },
    ]);
  }
  return header;
}

/** What makes two requests "the same": method, path and body. */
export function requestFingerprint(method: string, url: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${url}\n`)
    .update(JSON.stringify(body ?? null))
    .digest('base64url');
}

/**
 * The command's events as the first attempt wrote (or would have written) them: ids derived
 * from the key, times from the first acceptance. Only the correlation id is this request's own.
 */
export function stampForKey<E extends CatalogueEvent>(
  events: readonly E[],
  scope: IdempotencyScope,
  acceptedAt: Date,
  seal: (id: string) => string,
): E[] {
  const seed = `${scope.principal}\u0000${scope.key}`;
  return events.map((event, i) => ({
    ...event,
    envelope: {
      ...event.envelope,
      eventId: seal(derivedEventId(seed, acceptedAt.getTime(), i)),
      occurredAt: acceptedAt,
    },
  }));
}

export class IdempotencyConflictError extends AppError {
  constructor() {
    super(
      'idempotency-key-reused',
      409,
      'Idempotency-Key already used',
      'This Idempotency-Key was used with another request (method, path or body); use a new key for a new request.',
    );
  }
}

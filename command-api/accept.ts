import type { SpanContext } from '@opentelemetry/api';
import { UnavailableError } from '../shared/errors.ts';
import type { LogPosition } from '../shared/events/position.ts';
import type { EventPublisher } from '../shared/kafka/publisher.ts';
import type { CatalogueEvent } from '../shared/events/types.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { IdempotencyConflictError, stampForKey, type IdempotencyStore } from './idempotency.ts';

/** A decided command: its events, what must still hold before they are written, its answer. */
export interface Decision {
  events: CatalogueEvent[];
  /** Checked before a first attempt writes anything (If-Match); a retry of a key skips it. */
  precondition?: () => Promise<void>;
  /** The 202 body for the events as written. */
  answer(events: readonly CatalogueEvent[], positions: readonly LogPosition[]): unknown;
}

/** The request's Idempotency-Key and what makes it "the same request". */
export interface KeyedRequest {
  key: string;
  fingerprint: string;
}

export interface Accepted {
  body: unknown;
  /** The answer is a retry's: the first attempt's events, not new ones. */
  replayed: boolean;
}

export interface AcceptorDeps {
  publisher: EventPublisher;
  idempotency: IdempotencyStore;
  metrics: Metrics;
  logger: Logger;
  /** Seals the ids it derives, as every id the command API answers is sealed. */
  sealId: (id: string) => string;
}

/**
 * Turns decided commands into acknowledged events. Without an Idempotency-Key the events are
 * written as decided. With one, the key is claimed first; the events take ids and time derived
 * from the key's first use, so every attempt writes the same events and the projections' eventId
 * dedup makes them count once, whichever attempts reached the log, on whichever instance, even
 * when an instance crashed between the write and its bookkeeping.
 */
export function createAcceptor({ publisher, idempotency, metrics, logger, sealId }: AcceptorDeps) {
  /** Appends the events; resolves only once Kafka has acknowledged every one of them. */
  async function append(events: readonly CatalogueEvent[], origin: SpanContext | undefined): Promise<LogPosition[]> {
    try {
      const positions = await publisher.publish(events, origin);
      for (const event of events) metrics.eventsPublished.inc({ event_type: event.type });
      return positions;
    } catch (err) {
      if (!(err instanceof UnavailableError && err.dependency === 'kafka')) throw err;
      logger.warn({ err, events: events.length, eventType: events[0]?.type }, 'events not acknowledged by Kafka');
      throw new UnavailableError(
        'The event log did not acknowledge the write in time: it may or may not be recorded. A retry with the same Idempotency-Key is safe: it is recorded once.',
        1,
        'kafka',
      );
    }
  }

  /** `origin` is the command's span, when it is traced: its events carry its context. */
  return async function accept(
    principal: string,
    keyed: KeyedRequest | undefined,
    decision: Decision,
    origin?: SpanContext,
  ): Promise<Accepted> {
    if (!keyed) {
      await decision.precondition?.();
      return { body: decision.answer(decision.events, await append(decision.events, origin)), replayed: false };
    }
    const scope = { principal, key: keyed.key };
    const claim = await idempotency.claim(scope, keyed.fingerprint, decision.events[0]!.envelope.occurredAt);
    if (claim.kind === 'conflict') throw new IdempotencyConflictError();
    if (claim.kind === 'retry' && claim.answer !== null) return { body: claim.answer, replayed: true };
    if (claim.kind === 'first' && decision.precondition) {
      try {
        await decision.precondition();
      } catch (err) {
        await idempotency.release(scope);
        throw err;
      }
    }
    // A retry without a kept answer: the first attempt failed, crashed or is still running.
    // Writing its events again is safe, since they are the same events.
    const events = stampForKey(decision.events, scope, claim.acceptedAt, sealId);
    const body = decision.answer(events, await append(events, origin));
    // The events are in the log: the answer stands even if keeping it fails; a retry then
    // writes the same events again, which the projections skip.
    await idempotency
      .complete(scope, body)
      .catch((err: unknown) => logger.warn({ err }, 'answer of an idempotent command not kept'));
    return { body, replayed: claim.kind === 'retry' };
  };
}

export type Accept = ReturnType<typeof createAcceptor>;

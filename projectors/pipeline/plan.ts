import type { DecodeResult } from '../../shared/kafka/decoder.ts';
import type { PoisonCode } from '../../shared/kafka/poison.ts';
import type { CatalogueEvent, EventType } from '../../shared/events/types.ts';

/**
 * Why a record went to the dead-letter topic: a poison record (see PoisonCode), an event of a
 * type no projection of its topic handles, or one Postgres refused to store (SQLSTATE 22/23).
 */
export type DeadLetterCode = PoisonCode | 'unhandled_event' | 'database_refused';

export interface LogRecord {
  offset: number;
  key: string | null;
  result: DecodeResult;
  /** The first copy a redrive registered for this record's key wrote: the key is released from here on. */
  releasesKey?: boolean;
}

export interface PlanInput {
  /** The event types this projection applies. */
  handles: readonly EventType[];
  /** The event types any projection of the topic applies; anything else is dead-lettered. */
  topicHandles: ReadonlySet<EventType>;
  /** The records this projection has not yet applied, in log order. */
  records: readonly LogRecord[];
  /** Keys with a dead-lettered event in this projection, before this batch. */
  parkedKeys: ReadonlySet<string>;
  /** Event ids this projection already has an outcome for. */
  seenEventIds: ReadonlySet<string>;
  /** Records Postgres refused to store, by offset, with its reason. */
  refused: ReadonlyMap<number, string>;
}

export type Decision =
  | { action: 'apply'; offset: number; key: string | null; event: CatalogueEvent }
  | { action: 'park'; offset: number; key: string; event: CatalogueEvent }
  | {
      action: 'dead_letter';
      offset: number;
      key: string | null;
      code: DeadLetterCode;
      message: string;
      eventId: string | undefined;
    }
  | { action: 'skip_duplicate'; offset: number; eventId: string }
  | { action: 'ignore'; offset: number };

export interface Plan {
  decisions: Decision[];
  /** Keys this batch parks, with the offset of the dead letter that parked them. */
  parks: Map<string, { offset: number; reason: string }>;
  /** Parked keys a redrive releases in this batch (some may be parked again, then also in `parks`). */
  releases: Set<string>;
}

/**
 * Decides, for one projection, what becomes of each record of a partition batch. In order of
 * precedence:
 * 1. a poison record, an event of a type its topic does not carry, or one Postgres refused is
 *    dead-lettered, and its key parked;
 * 2. an event for another projection of the same topic is ignored;
 * 3. an event whose id was seen before (earlier in the log or in this batch) is skipped;
 * 4. an event of a parked key is parked: recorded, not applied, so that no later event of a key
 *    overtakes a dead-lettered one;
 * 5. everything else is applied (the fold may still reject it).
 * A record without a key cannot park anything: it is dead-lettered alone. A redrive's copy
 * releases its parked key before it is decided: it, and the key's events after it, go through
 * the rules again in log order (and a copy that fails again parks the key again).
 * The sink forgets the outcomes of a redrive's copied events first, so rule 3 lets them by.
 */
export function planBatch(input: PlanInput): Plan {
  const handled = new Set(input.handles);
  const parked = new Set(input.parkedKeys);
  const seen = new Set(input.seenEventIds);
  const plan: Plan = { decisions: [], parks: new Map(), releases: new Set() };

  const deadLetter = (record: LogRecord, code: DeadLetterCode, message: string, eventId?: string) => {
    plan.decisions.push({ action: 'dead_letter', offset: record.offset, key: record.key, code, message, eventId });
    if (record.key !== null && !parked.has(record.key)) {
      parked.add(record.key);
      plan.parks.set(record.key, { offset: record.offset, reason: `${code}: ${message}` });
    }
  };

  for (const record of input.records) {
    const { result, offset, key } = record;
    if (record.releasesKey && key !== null && parked.delete(key)) {
      plan.releases.add(key);
      plan.parks.delete(key);
    }
    if (!result.ok) {
      deadLetter(record, result.poison.code, result.poison.message, result.poison.eventId);
      continue;
    }
    const { event } = result;
    const eventId = event.envelope.eventId;
    if (!input.topicHandles.has(event.type)) {
      deadLetter(record, 'unhandled_event', `no projection of this topic handles ${event.type}`, eventId);
    } else if (!handled.has(event.type)) {
      plan.decisions.push({ action: 'ignore', offset });
    } else if (seen.has(eventId)) {
      plan.decisions.push({ action: 'skip_duplicate', offset, eventId });
    } else {
      seen.add(eventId);
      const refusal = input.refused.get(offset);
      if (refusal !== undefined) deadLetter(record, 'database_refused', refusal, eventId);
      else if (key !== null && parked.has(key)) plan.decisions.push({ action: 'park', offset, key, event });
      else plan.decisions.push({ action: 'apply', offset, key, event });
    }
  }
  return plan;
}

import type { SourceRecord } from './dead-letters.ts';
import { DLQ_HEADERS } from './dead-letters.ts';
import type { RegisteredRedrive } from './bookkeeping.ts';
import type { Decision, LogRecord } from './plan.ts';
import { isEventId } from '../../shared/events/validation.ts';

/**
 * How the pipeline meets a redrive (npm run dlq -- redrive): the copies it wrote name it in a
 * header, and the first copy releases the parked key. A copy counts only when its redrive is
 * registered for that projection and key, so a header alone releases nothing.
 */
export interface RedriveCopies {
  /** The redrive each copy belongs to, by offset. */
  redriveOf: ReadonlyMap<number, string>;
  /** The offsets of the copies that release their key: each redrive's first. */
  releasing: ReadonlySet<number>;
}

/** The redrive copies among a batch's records, by their headers. */
export function redriveCopies(records: readonly SourceRecord[]): RedriveCopies {
  const redriveOf = new Map<number, string>();
  const releasing = new Set<number>();
  for (const r of records) {
    const id = r.headers[DLQ_HEADERS.redrive]?.toString();
    if (id === undefined || !isEventId(id)) continue;
    redriveOf.set(r.offset, id);
    if (r.headers[DLQ_HEADERS.redriveReleases]?.toString() === 'true') releasing.add(r.offset);
  }
  return { redriveOf, releasing };
}

/** Whether `record` is a copy of a redrive registered for `projection` and the record's key. */
export function isRegisteredCopy(
  record: LogRecord,
  projection: string,
  copies: RedriveCopies,
  registered: ReadonlyMap<string, RegisteredRedrive>,
): boolean {
  const redrive = registered.get(copies.redriveOf.get(record.offset) ?? '');
  return redrive !== undefined && redrive.projection === projection && redrive.key === record.key;
}

/**
 * Per redrive met in the batch, what became of its first copy: the dead letter, or the first
 * event it parked when it is left behind.
 */
export function redriveOutcomes(
  records: readonly LogRecord[],
  decisions: readonly Decision[],
  rejected: ReadonlyMap<string, string>,
  redriveOf: ReadonlyMap<number, string>,
): Map<string, string> {
  const decided = new Map(decisions.map((d) => [d.offset, d]));
  const outcomes = new Map<string, string>();
  for (const record of records) {
    const id = redriveOf.get(record.offset);
    const decision = decided.get(record.offset);
    if (!record.releasesKey || id === undefined || outcomes.has(id) || !decision) continue;
    if (decision.action === 'apply')
      outcomes.set(id, rejected.has(decision.event.envelope.eventId) ? 'rejected' : 'applied');
    else if (decision.action === 'dead_letter') outcomes.set(id, 'dead_lettered');
    else if (decision.action === 'park') outcomes.set(id, 'parked');
    else outcomes.set(id, 'duplicate');
  }
  return outcomes;
}

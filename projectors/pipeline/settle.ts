import { isEventId } from '../../shared/events/validation.ts';
import type { Projection } from '../projection.ts';
import type { DeadLetterRow, Outcome, ParkedKey } from './bookkeeping.ts';
import type { SourceRecord } from './dead-letters.ts';
import type { Decision, LogRecord, Plan } from './plan.ts';
import { redriveOutcomes } from './redrive-copies.ts';
import type { BatchReport, PartitionBatch } from './batch.ts';

/** What one projection decided for one batch: the claim's parked keys, its records and its plan. */
export interface ProjectionPlan {
  projection: Projection;
  parked: ReadonlySet<string>;
  mine: LogRecord[];
  plan: Plan;
}

/** A batch decided but not yet applied: a plan per projection of its topic. */
export interface PlannedBatch {
  batch: PartitionBatch;
  fresh: readonly SourceRecord[];
  redriveOf: ReadonlyMap<number, string>;
  projections: ProjectionPlan[];
}

/** What to write for one projection's part of a batch, besides the `applied` outcomes recorded before the fold. */
export interface ProjectionSettlement {
  /** The schema the projection writes to. */
  schema: string;
  /** What else became of some events: rejected by the fold, parked, dead-lettered. */
  outcomes: Outcome[];
  releases: ReadonlySet<string>;
  parks: ParkedKey[];
  /** Per redrive met, what became of its first copy. */
  redrives: ReadonlyMap<string, string>;
  deadLetterRows: DeadLetterRow[];
}

/** A batch's settlement: the writes per projection, and the report of what the batch did. */
export interface Settlement {
  projections: ProjectionSettlement[];
  report: BatchReport;
}

/**
 * Decides, once the projections have folded the batch's events (`rejected` holds the fold's
 * refusals), what remains to be written: outcomes, keys released and parked, redrives settled,
 * dead letters; and what the batch did, for metrics and logs. Pure.
 */
export function settlementOf(
  { fresh, redriveOf, projections }: PlannedBatch,
  rejected: ReadonlyMap<string, string>,
  dlqTopic: string,
): Settlement {
  const report: BatchReport = { counts: [], deadLetters: [], parked: [] };
  let sources: Map<number, SourceRecord> | undefined;
  const settled = projections.map(({ projection, parked, mine, plan }): ProjectionSettlement => {
    const outcomes: Outcome[] = [];
    for (const d of plan.decisions)
      if (d.action !== 'apply' || rejected.has(d.event.envelope.eventId)) outcomes.push(...outcomeOf(d, rejected));
    const letters = plan.decisions.filter((d) => d.action === 'dead_letter');
    // Most batches have none: the map of their records is made only for one that has.
    if (letters.length > 0) sources ??= new Map(fresh.map((r) => [r.offset, r]));
    report.deadLetters.push(
      ...letters.map((d) => ({
        source: sources!.get(d.offset)!,
        projection: projection.name,
        code: d.code,
        message: d.message,
      })),
    );
    // From the keys the claim loaded anyway: no query of its own.
    const stillParked = new Set(parked);
    for (const key of plan.releases) stillParked.delete(key);
    for (const key of plan.parks.keys()) stillParked.add(key);
    report.parked.push({ projection: projection.name, keys: stillParked.size });
    report.counts.push(...countOutcomes(projection.name, plan.decisions, rejected));
    return {
      schema: projection.schema,
      outcomes,
      releases: plan.releases,
      parks: [...plan.parks].map(([key, p]) => ({ key, offset: p.offset, reason: storable(p.reason) })),
      redrives: redriveOutcomes(mine, plan.decisions, rejected, redriveOf),
      deadLetterRows: letters.map((d) => ({
        offset: d.offset,
        key: d.key,
        eventId: d.eventId !== undefined && isEventId(d.eventId) ? d.eventId : null,
        code: d.code,
        message: storable(d.message),
        dlqTopic,
      })),
    };
  });
  return { projections: settled, report };
}

function outcomeOf(decision: Decision, rejected: ReadonlyMap<string, string>): Outcome[] {
  switch (decision.action) {
    case 'apply': {
      const eventId = decision.event.envelope.eventId;
      const reason = rejected.get(eventId);
      return [
        {
          eventId,
          status: reason === undefined ? 'applied' : 'rejected',
          reason: reason ?? null,
          offset: decision.offset,
        },
      ];
    }
    case 'park':
      return [
        {
          eventId: decision.event.envelope.eventId,
          status: 'parked',
          reason: 'an earlier event of its key was dead-lettered',
          offset: decision.offset,
        },
      ];
    case 'dead_letter':
      // A poison record may carry no id, or not a valid one; it is still in dead_letters by position.
      if (decision.eventId === undefined || !isEventId(decision.eventId)) return [];
      return [
        {
          eventId: decision.eventId,
          status: 'dead_lettered',
          reason: storable(`${decision.code}: ${decision.message}`),
          offset: decision.offset,
        },
      ];
    case 'skip_duplicate':
    case 'ignore':
      return [];
  }
}

function countOutcomes(
  projection: string,
  decisions: readonly Decision[],
  rejected: ReadonlyMap<string, string>,
): BatchReport['counts'] {
  type Count = BatchReport['counts'][number];
  const counts = new Map<Count['eventType'], Map<Count['outcome'], Count>>();
  const add = (eventType: Count['eventType'], outcome: Count['outcome']) => {
    let byOutcome = counts.get(eventType);
    if (!byOutcome) counts.set(eventType, (byOutcome = new Map<Count['outcome'], Count>()));
    const entry = byOutcome.get(outcome);
    if (entry) entry.count += 1;
    else byOutcome.set(outcome, { projection, eventType, outcome, count: 1 });
  };
  for (const d of decisions) {
    if (d.action === 'apply') add(d.event.type, rejected.has(d.event.envelope.eventId) ? 'rejected' : 'applied');
    else if (d.action === 'park') add(d.event.type, 'parked');
    else if (d.action === 'dead_letter') add('unknown', 'dead_lettered');
    else if (d.action === 'skip_duplicate') add('unknown', 'duplicate');
  }
  return [...counts.values()].flatMap((byOutcome) => [...byOutcome.values()]);
}

/** Text Postgres will store: error messages can quote the NUL characters that made the event poison. */
export const storable = (text: string) => text.replaceAll('\u0000', '\\u0000');

import { inParallel, type PoolClient } from '../../shared/db/pool.ts';
import type { CatalogueEvent } from '../../shared/events/types.ts';
import type { PartitionBatch, BatchReport } from './batch.ts';
import {
  parkKeys,
  recordDeadLetters,
  recordEvents,
  releaseKeys,
  reopenOutcomes,
  settleOutcomes,
  settleRedrives,
} from './bookkeeping.ts';
import type { DeadLetterWriter } from './dead-letters.ts';
import type { Arrivals } from './plan-group.ts';
import type { PlannedBatch, Settlement } from './settle.ts';

/**
 * Records a projection's new events of the group as `applied`, moves its offsets, and answers
 * with the ids it had seen before. Provisional on purpose: one statement both asks and records,
 * and `writeSettlement` corrects the few that turn out otherwise before the transaction commits.
 */
export async function recordArrivals(client: PoolClient, arrivals: Arrivals): Promise<Set<string>> {
  const { projection, reopen, moves, events } = arrivals;
  const target = { client, schema: projection.schema };
  await reopenOutcomes(target, reopen);
  return recordEvents(target, projection.topic, moves, events);
}

/**
 * Has each projection fold and write its applied events of the whole group at once (their keys
 * are their partitions' own); returns the events the folds refused (eventId -> reason).
 */
export async function foldGroup(
  client: PoolClient,
  arrivals: readonly Arrivals[],
  planned: readonly PlannedBatch[],
): Promise<Map<string, string>> {
  const refusals = await inParallel(
    arrivals.map(({ projection }) => {
      const applying: CatalogueEvent[] = [];
      for (const { projections } of planned)
        for (const p of projections)
          if (p.projection === projection)
            for (const d of p.plan.decisions) if (d.action === 'apply') applying.push(d.event);
      return projection.project({ client, schema: projection.schema }, applying);
    }),
  );
  const rejected = new Map<string, string>();
  for (const refused of refusals) for (const [eventId, reason] of refused) rejected.set(eventId, reason);
  return rejected;
}

/** Writes a batch's settlement: per projection its outcomes, keys, redrives; then its dead letters, sent before they are recorded. */
export async function writeSettlement(
  client: PoolClient,
  { topic, partition }: PartitionBatch,
  settlement: Settlement,
  deadLetters: DeadLetterWriter,
): Promise<BatchReport> {
  for (const p of settlement.projections) {
    const target = { client, schema: p.schema };
    await settleOutcomes(target, topic, partition, p.outcomes);
    await releaseKeys(target, topic, partition, p.releases);
    await settleRedrives(target, p.redrives);
    await parkKeys(target, topic, partition, p.parks);
  }
  await deadLetters.send(settlement.report.deadLetters);
  for (const p of settlement.projections)
    await recordDeadLetters({ client, schema: p.schema }, topic, partition, p.deadLetterRows);
  return settlement.report;
}

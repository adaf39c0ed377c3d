import { inParallel, withTransaction, type Pool, type PoolClient } from '../../shared/db/pool.ts';
import type { EventDecoder } from '../../shared/kafka/decoder.ts';
import type { EventType } from '../../shared/events/types.ts';
import { classify, PositionError } from '../../shared/failures.ts';
import type { Projection, Target } from '../projection.ts';
import type { BatchReport, GroupOutcome, GroupResult, PartitionBatch } from './batch.ts';
import {
  claimPartitions,
  findRedrives,
  parkKeys,
  recordDeadLetters,
  recordEvents,
  releaseKeys,
  reopenOutcomes,
  settleOutcomes,
  settleRedrives,
  type PartitionClaim,
  type RegisteredRedrive,
} from './bookkeeping.ts';
import type { DeadLetterWriter, SourceRecord } from './dead-letters.ts';
import { planBatch, type LogRecord } from './plan.ts';
import { isRegisteredCopy, redriveCopies } from './redrive-copies.ts';
import { settlementOf, storable, type PlannedBatch, type ProjectionPlan, type Settlement } from './settle.ts';

/** A batch checked against the stored offsets and decoded, with the redrives its records belong to. */
interface DecodedBatch {
  batch: PartitionBatch;
  refused: ReadonlyMap<number, string>;
  fresh: readonly SourceRecord[];
  records: readonly LogRecord[];
  redriveOf: ReadonlyMap<number, string>;
  releasing: ReadonlySet<number>;
  redrives: ReadonlyMap<string, RegisteredRedrive>;
}

export interface Sink {
  process(batch: PartitionBatch): Promise<BatchReport>;
  /** Applies batches of different partitions together; each gets its own result. */
  processGroup(batches: readonly PartitionBatch[]): Promise<GroupOutcome>;
}

export interface SinkDeps {
  pool: Pool;
  decoder: EventDecoder;
  deadLetters: DeadLetterWriter;
  /** The projections of one topic or more; a batch goes to those of its topic. */
  projections: readonly Projection[];
}

/**
 * Applies partition batches: per batch, one transaction claims each projection's offset, decodes
 * the records not yet applied, plans them (apply, dead-letter, park, skip), folds and writes the
 * applied ones, records every outcome and moves the offset. Dead letters are acknowledged by
 * Kafka before the transaction commits, so the offset never moves past a record that is neither
 * applied nor in its dead-letter topic.
 *
 * When Postgres refuses a batch's values (SQLSTATE 22/23), the batch is applied again one record
 * per transaction, so the refused record is found and dead-lettered and the rest apply.
 *
 * A group of batches of different partitions shares one transaction, and each projection folds
 * and writes the group's events together: a steady stream of small fetches is thousands of tiny
 * batches a second, whose BEGIN, COMMIT and statements would cost Postgres more than the events
 * themselves. Should the group fail, each batch is applied alone, so that a partition in trouble
 * is the only one that waits.
 */
export function createSink(deps: SinkDeps): Sink {
  const { pool, decoder } = deps;
  const byTopic = new Map<string, Projection[]>();
  for (const projection of deps.projections)
    byTopic.set(projection.topic, [...(byTopic.get(projection.topic) ?? []), projection]);
  const handledBy = new Map(deps.projections.map((p) => [p, new Set<EventType>(p.handles)]));
  const topicHandles = new Map(
    [...byTopic].map(([topic, projections]) => [topic, new Set(projections.flatMap((p) => p.handles))]),
  );

  async function process(batch: PartitionBatch): Promise<BatchReport> {
    try {
      return await processOnce(batch, new Map());
    } catch (err) {
      const failure = classify(err);
      if (failure.kind !== 'permanent') throw err;
      const [only, ...more] = batch.records;
      if (!only) throw err;
      if (more.length === 0)
        return processOnce(
          batch,
          new Map([[only.offset, storable(`${(err as Error).message} (SQLSTATE ${failure.sqlState})`)]]),
        );
      const reports: BatchReport[] = [];
      let continuesFrom = batch.continuesFrom;
      let fetchedOffset = batch.fetchedOffset;
      for (const [i, record] of batch.records.entries()) {
        const nextOffset = i === batch.records.length - 1 ? batch.nextOffset : record.offset + 1;
        reports.push(await process({ ...batch, records: [record], fetchedOffset, continuesFrom, nextOffset }));
        continuesFrom = fetchedOffset = nextOffset;
      }
      return {
        counts: reports.flatMap((r) => r.counts),
        deadLetters: reports.flatMap((r) => r.deadLetters),
        parked: reports.at(-1)?.parked ?? [],
      };
    }
  }

  async function processGroup(batches: readonly PartitionBatch[]): Promise<GroupOutcome> {
    let groupFailure: Error | undefined;
    if (batches.length > 1) {
      try {
        const reports = await withTransaction(pool, (client) =>
          applyBatches(
            client,
            batches.map((batch) => ({ batch, refused: new Map() })),
          ),
        );
        return { results: reports.map((report) => ({ ok: true, report })) };
      } catch (err) {
        // Which batch failed, and whether it fails alone, only the batches applied one by one tell.
        groupFailure = err as Error;
      }
    }
    const results: GroupResult[] = [];
    for (const batch of batches)
      results.push(
        await process(batch).then(
          (report) => ({ ok: true as const, report }),
          (error: unknown) => ({ ok: false as const, error: error as Error }),
        ),
      );
    return groupFailure ? { results, groupFailure } : { results };
  }

  async function processOnce(batch: PartitionBatch, refused: ReadonlyMap<number, string>): Promise<BatchReport> {
    const [report] = await withTransaction(pool, (client) => applyBatches(client, [{ batch, refused }]));
    return report!;
  }

  /**
   * Claims the group's partitions, decodes and plans each batch, then folds and writes each
   * projection's events of all the batches at once (their keys are their partitions' own), then
   * settles each batch's outcomes. Claims and event records take one statement per projection
   * for the whole group. The projections' statements of each step are issued together, so that
   * on a pipelining client a group of both topics waits for Postgres once a step, not once a
   * statement: on a busy machine each wait is a wake-up of two processes, which costs the time
   * both take to be scheduled again.
   */
  async function applyBatches(
    client: PoolClient,
    batches: ReadonlyArray<{ batch: PartitionBatch; refused: ReadonlyMap<number, string> }>,
  ): Promise<BatchReport[]> {
    const claiming = deps.projections
      .map((projection) => ({
        projection,
        partitions: batches.filter(({ batch }) => batch.topic === projection.topic).map(({ batch }) => batch.partition),
      }))
      .filter(({ partitions }) => partitions.length > 0);
    const claimed = await inParallel(
      claiming.map(({ projection, partitions }) =>
        claimPartitions({ client, schema: projection.schema }, projection.topic, partitions),
      ),
    );
    const claims = new Map(claiming.map(({ projection }, i) => [projection, claimed[i]!]));
    const decoded: DecodedBatch[] = [];
    for (const batch of batches) decoded.push(await decodeBatch(client, batch, claims));
    const planned = decoded.map((d): PlannedBatch => ({
      batch: d.batch,
      fresh: d.fresh,
      redriveOf: d.redriveOf,
      projections: [],
    }));
    const plans = await inParallel(
      [...claims].map(([projection, claim]) =>
        planProjection({ client, schema: projection.schema }, projection, claim, decoded),
      ),
    );
    for (const plan of plans) for (const [i, projectionPlan] of plan) planned[i]!.projections.push(projectionPlan);

    const rejected = new Map<string, string>();
    const projected = await inParallel(
      [...claims.keys()].map((projection) => {
        const applying = [];
        for (const { projections } of planned) {
          for (const p of projections)
            if (p.projection === projection)
              for (const d of p.plan.decisions) if (d.action === 'apply') applying.push(d.event);
        }
        return projection.project({ client, schema: projection.schema }, applying);
      }),
    );
    for (const refusals of projected) for (const [eventId, reason] of refusals) rejected.set(eventId, reason);
    const reports = [];
    for (const batch of planned)
      reports.push(
        await writeSettlement(batch.batch, settlementOf(batch, rejected, deps.deadLetters.topicOf(batch.batch.topic))),
      );
    return reports;
  }

  /** Checks that the batch goes on from where its projections stand, and decodes what some projection still needs. */
  async function decodeBatch(
    client: PoolClient,
    { batch, refused }: { batch: PartitionBatch; refused: ReadonlyMap<number, string> },
    claims: ReadonlyMap<Projection, ReadonlyMap<number, PartitionClaim>>,
  ): Promise<DecodedBatch> {
    const projections = byTopic.get(batch.topic) ?? [];
    const from = Math.min(...projections.map((p) => claims.get(p)!.get(batch.partition)!.next));
    if (batch.fetchedOffset !== from && batch.continuesFrom !== from)
      throw new PositionError(from, batch.fetchedOffset);

    // Decode only what some projection still needs: a bad record already behind us stays behind.
    const fresh = batch.records.filter((r) => r.offset >= from);
    const results = await decoder.decodeAll(fresh);
    const records: LogRecord[] = fresh.map((r, i) => ({
      offset: r.offset,
      key: r.key?.toString('latin1') ?? null,
      result: results[i]!,
    }));
    const { redriveOf, releasing } = redriveCopies(fresh);
    const redrives = await findRedrives({ client, schema: projections[0]!.schema }, batch.topic, batch.partition, [
      ...new Set(redriveOf.values()),
    ]);
    return { batch, refused, fresh, records, redriveOf, releasing, redrives };
  }

  /**
   * Records, for one projection, the new events of every batch of its topic in one statement,
   * and plans each of those batches (by their place in `decoded`). An event id met in an earlier
   * batch of the group counts as seen in the later ones, as it would had each batch been
   * recorded on its own.
   */
  async function planProjection(
    target: Target,
    projection: Projection,
    claimed: ReadonlyMap<number, PartitionClaim>,
    decoded: readonly DecodedBatch[],
  ): Promise<Map<number, ProjectionPlan>> {
    const handled = handledBy.get(projection)!;
    const mine = new Map<number, LogRecord[]>();
    const moves: Array<{ partition: number; nextOffset: number }> = [];
    const events: Array<{ eventId: string; partition: number; offset: number }> = [];
    for (const [i, { batch, records, redriveOf, releasing, redrives }] of decoded.entries()) {
      if (batch.topic !== projection.topic) continue;
      moves.push({ partition: batch.partition, nextOffset: batch.nextOffset });
      const { next } = claimed.get(batch.partition)!;
      const copied = (r: LogRecord) => isRegisteredCopy(r, projection.name, { redriveOf, releasing }, redrives);
      const ofProjection = records
        .filter((r) => r.offset >= next)
        .map((r) => (releasing.has(r.offset) && copied(r) ? { ...r, releasesKey: true } : r));
      // Dead-lettered or parked before, a copied event is decided again; one applied before stays a duplicate.
      await reopenOutcomes(
        target,
        ofProjection.flatMap((r) => (copied(r) && r.result.ok ? [r.result.event.envelope.eventId] : [])),
      );
      for (const { result, offset } of ofProjection)
        if (result.ok && handled.has(result.event.type))
          events.push({ eventId: result.event.envelope.eventId, partition: batch.partition, offset });
      mine.set(i, ofProjection);
    }
    // Seen before the group, then (batch after batch) in it: the plan copies the set it is given.
    const seen = await recordEvents(target, projection.topic, moves, events);
    const plans = new Map<number, ProjectionPlan>();
    for (const [i, records] of mine) {
      const { batch, refused } = decoded[i]!;
      const { parked } = claimed.get(batch.partition)!;
      const plan = planBatch({
        handles: projection.handles,
        topicHandles: topicHandles.get(batch.topic)!,
        records,
        parkedKeys: parked,
        seenEventIds: seen,
        refused,
      });
      for (const { result } of records)
        if (result.ok && handled.has(result.event.type)) seen.add(result.event.envelope.eventId);
      plans.set(i, { projection, target, parked, mine: records, plan });
    }
    return plans;
  }

  /** Writes a batch's settlement: per projection its outcomes, keys, redrives; then its dead letters, sent before they are recorded. */
  async function writeSettlement({ topic, partition }: PartitionBatch, settlement: Settlement): Promise<BatchReport> {
    for (const p of settlement.projections) {
      await settleOutcomes(p.target, topic, partition, p.outcomes);
      await releaseKeys(p.target, topic, partition, p.releases);
      await settleRedrives(p.target, p.redrives);
      await parkKeys(p.target, topic, partition, p.parks);
    }
    await deps.deadLetters.send(settlement.report.deadLetters);
    for (const p of settlement.projections) await recordDeadLetters(p.target, topic, partition, p.deadLetterRows);
    return settlement.report;
  }

  return { process, processGroup };
}

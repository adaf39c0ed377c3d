import { inParallel, withTransaction, type Pool, type PoolClient } from '../../shared/db/pool.ts';
import type { EventDecoder } from '../../shared/kafka/decoder.ts';
import { classify } from '../../shared/failures.ts';
import type { Projection } from '../projection.ts';
import type { BatchReport, GroupOutcome, GroupResult, PartitionBatch } from './batch.ts';
import type { DeadLetterWriter } from './dead-letters.ts';
import { loadGroup, type BatchToApply } from './load.ts';
import { arrivalsOf, planGroup } from './plan-group.ts';
import { settlementOf, storable } from './settle.ts';
import { foldGroup, recordArrivals, writeSettlement } from './write.ts';

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
  return { process: (batch) => applyAlone(deps, batch), processGroup: (batches) => applyGroup(deps, batches) };
}

async function applyGroup(deps: SinkDeps, batches: readonly PartitionBatch[]): Promise<GroupOutcome> {
  let groupFailure: Error | undefined;
  if (batches.length > 1) {
    try {
      const together = batches.map((batch) => ({ batch, refused: new Map() }));
      const reports = await withTransaction(deps.pool, (client) => applyBatches(deps, client, together));
      return { results: reports.map((report) => ({ ok: true, report })) };
    } catch (err) {
      // Which batch failed, and whether it fails alone, only the batches applied one by one tell.
      groupFailure = err as Error;
    }
  }
  const results: GroupResult[] = [];
  for (const batch of batches)
    results.push(
      await applyAlone(deps, batch).then(
        (report) => ({ ok: true as const, report }),
        (error: unknown) => ({ ok: false as const, error: error as Error }),
      ),
    );
  return groupFailure ? { results, groupFailure } : { results };
}

/** Applies one batch; should Postgres refuse a value in it, finds the record at fault by applying them one by one. */
async function applyAlone(deps: SinkDeps, batch: PartitionBatch): Promise<BatchReport> {
  try {
    return await applyOnce(deps, batch, new Map());
  } catch (err) {
    const failure = classify(err);
    if (failure.kind !== 'permanent' || batch.records.length === 0) throw err;
    const [only] = batch.records;
    if (batch.records.length > 1) return applyRecordByRecord(deps, batch);
    const reason = storable(`${(err as Error).message} (SQLSTATE ${failure.sqlState})`);
    return applyOnce(deps, batch, new Map([[only!.offset, reason]]));
  }
}

async function applyRecordByRecord(deps: SinkDeps, batch: PartitionBatch): Promise<BatchReport> {
  const reports: BatchReport[] = [];
  let continuesFrom = batch.continuesFrom;
  let fetchedOffset = batch.fetchedOffset;
  for (const [i, record] of batch.records.entries()) {
    const nextOffset = i === batch.records.length - 1 ? batch.nextOffset : record.offset + 1;
    reports.push(await applyAlone(deps, { ...batch, records: [record], fetchedOffset, continuesFrom, nextOffset }));
    continuesFrom = fetchedOffset = nextOffset;
  }
  return {
    counts: reports.flatMap((r) => r.counts),
    deadLetters: reports.flatMap((r) => r.deadLetters),
    parked: reports.at(-1)?.parked ?? [],
  };
}

async function applyOnce(
  deps: SinkDeps,
  batch: PartitionBatch,
  refused: ReadonlyMap<number, string>,
): Promise<BatchReport> {
  const [report] = await withTransaction(deps.pool, (client) => applyBatches(deps, client, [{ batch, refused }]));
  return report!;
}

/**
 * Loads the group (claims, positions, decoded records, redrives), records each projection's
 * new events provisionally and learns which were seen before, plans every batch (pure), has
 * the projections fold the applied events, settles each batch (pure) and writes the
 * settlement. The projections' statements of each step are issued together, so that on a
 * pipelining client a group of both topics waits for Postgres once a step, not once a
 * statement: on a busy machine each wait is a wake-up of two processes.
 */
async function applyBatches(
  deps: SinkDeps,
  client: PoolClient,
  batches: readonly BatchToApply[],
): Promise<BatchReport[]> {
  const group = await loadGroup(client, batches, deps);
  const arrivals = [...group.claims].map(([projection, claimed]) => arrivalsOf(projection, claimed, group));
  const seen = await inParallel(arrivals.map((a) => recordArrivals(client, a)));
  const planned = planGroup(group, arrivals, seen);
  const rejected = await foldGroup(client, arrivals, planned);
  const reports: BatchReport[] = [];
  for (const batch of planned) {
    const settlement = settlementOf(batch, rejected, deps.deadLetters.topicOf(batch.batch.topic));
    reports.push(await writeSettlement(client, batch.batch, settlement, deps.deadLetters));
  }
  return reports;
}

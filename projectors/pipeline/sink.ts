import { inParallel, withTransaction, type Pool, type PoolClient } from '../../shared/db/pool.ts';
import type { EventDecoder } from '../../shared/kafka/decoder.ts';
import type { EventType } from '../../shared/events/types.ts';
import { isEventId } from '../../shared/events/validation.ts';
import type { Projection, Target } from '../projection.ts';
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
  type DeadLetterRow,
  type Outcome,
  type PartitionClaim,
  type RegisteredRedrive,
} from './bookkeeping.ts';
import { DLQ_HEADERS, type DeadLetter, type DeadLetterWriter, type SourceRecord } from './dead-letters.ts';
import { classify, PositionError } from '../../shared/failures.ts';
import { planBatch, type Decision, type LogRecord, type Plan } from './plan.ts';

/** One fetch's records of one partition, and where in the log they sit. */
export interface FetchedBatch {
  topic: string;
  partition: number;
  /** The offset the consumer asked for; records before it were read by an earlier batch. */
  fetchedOffset: number;
  /** The offset after the batch, control and aborted records included: where the next read starts. */
  nextOffset: number;
  records: readonly SourceRecord[];
}

/**
 * A fetched batch, and what its reader knows of the partition: the batch must start at the
 * stored offset, since a batch that starts elsewhere (Kafka's committed offset, behind after a
 * crash or ahead of a fresh database) would skip or repeat events. One exception: a reader that
 * stored `continuesFrom` itself and has read the log on from there, batch after batch, may start
 * later, because what lies between was records with nothing to apply (transaction markers,
 * aborted or compacted records, which kafkajs reads past without a batch). If the stored offset
 * is no longer `continuesFrom`, another member moved it: the batch is refused too.
 */
export interface PartitionBatch extends FetchedBatch {
  continuesFrom: number | undefined;
}

/** What one batch did, per projection, event type and outcome (plus duplicates skipped). */
export interface BatchReport {
  counts: Array<{
    projection: string;
    eventType: EventType | 'unknown';
    outcome: Outcome['status'] | 'duplicate';
    count: number;
  }>;
  deadLetters: DeadLetter[];
  /** Per projection, the keys parked on the batch's partition once the batch is applied. */
  parked: Array<{ projection: string; keys: number }>;
}

/** What became of one batch of a group: its report, or the error that stopped it. */
export type GroupResult = { ok: true; report: BatchReport } | { ok: false; error: Error };

export interface GroupOutcome {
  /** By batch, in the group's order. */
  results: GroupResult[];
  /** Why the group's one transaction failed, when its batches were then applied alone. */
  groupFailure?: Error;
}

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

/** What one projection decided for one batch: the claim's parked keys, its records and its plan. */
interface ProjectionPlan {
  projection: Projection;
  target: Target;
  parked: ReadonlySet<string>;
  mine: LogRecord[];
  plan: Plan;
}

/** A batch decided but not yet applied: a plan per projection of its topic. */
interface PlannedBatch {
  batch: PartitionBatch;
  fresh: readonly SourceRecord[];
  redriveOf: ReadonlyMap<number, string>;
  projections: ProjectionPlan[];
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
    for (const batch of planned) reports.push(await settlePartition(batch, rejected));
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
    // Copies a redrive wrote name it in a header; a redrive counts only when registered for the copy's key.
    const redriveOf = new Map<number, string>();
    const releasing = new Set<number>();
    for (const r of fresh) {
      const id = r.headers[DLQ_HEADERS.redrive]?.toString();
      if (id === undefined || !isEventId(id)) continue;
      redriveOf.set(r.offset, id);
      if (r.headers[DLQ_HEADERS.redriveReleases]?.toString() === 'true') releasing.add(r.offset);
    }
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
      const copied = (r: LogRecord) => {
        const redrive = redrives.get(redriveOf.get(r.offset) ?? '');
        return redrive !== undefined && redrive.projection === projection.name && redrive.key === r.key;
      };
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

  /** Writes what became of the batch's events besides `applied`, parks and releases keys, and dead-letters what must be. */
  async function settlePartition(
    { batch, fresh, redriveOf, projections }: PlannedBatch,
    rejected: ReadonlyMap<string, string>,
  ): Promise<BatchReport> {
    const report: BatchReport = { counts: [], deadLetters: [], parked: [] };
    const deadLetterRows: Array<{ target: Target; rows: DeadLetterRow[] }> = [];
    for (const { projection, target, parked, mine, plan } of projections) {
      // recordEvents wrote every new event as applied; what else became of some is written now.
      const unsettled: Outcome[] = [];
      for (const d of plan.decisions)
        if (d.action !== 'apply' || rejected.has(d.event.envelope.eventId)) unsettled.push(...outcomeOf(d, rejected));
      await settleOutcomes(target, batch.topic, batch.partition, unsettled);
      await releaseKeys(target, batch.topic, batch.partition, plan.releases);
      await settleRedrives(target, redriveOutcomes(mine, plan.decisions, rejected, redriveOf));
      await parkKeys(
        target,
        batch.topic,
        batch.partition,
        [...plan.parks].map(([key, p]) => ({ key, offset: p.offset, reason: storable(p.reason) })),
      );

      const letters = plan.decisions.filter((d) => d.action === 'dead_letter');
      if (letters.length > 0) {
        const sources = new Map(fresh.map((r) => [r.offset, r]));
        report.deadLetters.push(
          ...letters.map((d) => ({
            source: sources.get(d.offset)!,
            projection: projection.name,
            code: d.code,
            message: d.message,
          })),
        );
      }
      deadLetterRows.push({
        target,
        rows: letters.map((d) => ({
          offset: d.offset,
          key: d.key,
          eventId: d.eventId !== undefined && isEventId(d.eventId) ? d.eventId : null,
          code: d.code,
          message: storable(d.message),
          dlqTopic: deps.deadLetters.topicOf(batch.topic),
        })),
      });
      // From the keys the claim loaded anyway: no query of its own.
      const stillParked = new Set(parked);
      for (const key of plan.releases) stillParked.delete(key);
      for (const key of plan.parks.keys()) stillParked.add(key);
      report.parked.push({ projection: projection.name, keys: stillParked.size });
      report.counts.push(...countOutcomes(projection.name, plan.decisions, rejected));
    }
    await deps.deadLetters.send(report.deadLetters);
    for (const { target, rows } of deadLetterRows) await recordDeadLetters(target, batch.topic, batch.partition, rows);
    return report;
  }

  return { process, processGroup };
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

/** Per redrive met in the batch, what became of its first copy: the dead letter, or the first event it parked when it is left behind. */
function redriveOutcomes(
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
const storable = (text: string) => text.replaceAll('\u0000', '\\u0000');

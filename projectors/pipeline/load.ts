import { inParallel, type PoolClient } from '../../shared/db/pool.ts';
import type { EventDecoder } from '../../shared/kafka/decoder.ts';
import { PositionError } from '../../shared/failures.ts';
import type { Projection } from '../projection.ts';
import type { PartitionBatch } from './batch.ts';
import { claimPartitions, findRedrives, type PartitionClaim, type RegisteredRedrive } from './bookkeeping.ts';
import type { SourceRecord } from './dead-letters.ts';
import type { LogRecord } from './plan.ts';
import { redriveCopies, type RedriveCopies } from './redrive-copies.ts';

/** A batch to apply, and the records Postgres refused to store when it was applied before (by offset, with why). */
export interface BatchToApply {
  batch: PartitionBatch;
  refused: ReadonlyMap<number, string>;
}

/** A batch checked against the stored offsets and decoded, with the redrives its records belong to. */
export interface LoadedBatch extends BatchToApply {
  /** The records some projection still needs, as fetched. */
  fresh: readonly SourceRecord[];
  /** The same records, decoded. */
  records: readonly LogRecord[];
  copies: RedriveCopies;
  redrives: ReadonlyMap<string, RegisteredRedrive>;
}

/** What a group's transaction reads before it decides: each projection's claim of its partitions, and the batches. */
export interface LoadedGroup {
  claims: ReadonlyMap<Projection, ReadonlyMap<number, PartitionClaim>>;
  batches: LoadedBatch[];
}

export interface Loader {
  decoder: EventDecoder;
  projections: readonly Projection[];
}

/**
 * Claims the group's partitions for each projection of their topics (one statement per
 * projection, issued together), then checks and decodes each batch.
 */
export async function loadGroup(
  client: PoolClient,
  batches: readonly BatchToApply[],
  { decoder, projections }: Loader,
): Promise<LoadedGroup> {
  const claiming = projections
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
  const loaded: LoadedBatch[] = [];
  for (const batch of batches) loaded.push(await loadBatch(client, batch, claims, decoder));
  return { claims, batches: loaded };
}

/** Checks that the batch goes on from where its projections stand, and decodes what some projection still needs. */
async function loadBatch(
  client: PoolClient,
  { batch, refused }: BatchToApply,
  claims: ReadonlyMap<Projection, ReadonlyMap<number, PartitionClaim>>,
  decoder: EventDecoder,
): Promise<LoadedBatch> {
  const mine = [...claims].filter(([projection]) => projection.topic === batch.topic);
  const from = Math.min(...mine.map(([, claimed]) => claimed.get(batch.partition)!.next));
  if (batch.fetchedOffset !== from && batch.continuesFrom !== from) throw new PositionError(from, batch.fetchedOffset);

  // Decode only what some projection still needs: a bad record already behind us stays behind.
  const fresh = batch.records.filter((r) => r.offset >= from);
  const results = await decoder.decodeAll(fresh);
  const records: LogRecord[] = fresh.map((r, i) => ({
    offset: r.offset,
    key: r.key?.toString('latin1') ?? null,
    result: results[i]!,
  }));
  const copies = redriveCopies(fresh);
  const target = { client, schema: mine[0]![0].schema };
  const redrives = await findRedrives(target, batch.topic, batch.partition, [...new Set(copies.redriveOf.values())]);
  return { batch, refused, fresh, records, copies, redrives };
}

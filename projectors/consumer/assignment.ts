import type { Consumer } from 'kafkajs';
import type { Pool } from '../../shared/db/pool.ts';
import type { Metrics } from '../../shared/metrics.ts';
import type { Projection } from '../projection.ts';
import type { Scheduler } from './scheduler.ts';
import { parkedKeyCounts, storedOffsets } from './stored-offsets.ts';

export interface AssignmentDeps {
  pool: Pool;
  projections: readonly Projection[];
  consumer: Pick<Consumer, 'seek'>;
  metrics: Metrics;
  scheduler: Pick<Scheduler, 'hasLane' | 'assignment'>;
}

/** Moves each newly assigned partition to the offset its projections stored. */
export async function seekToStoredOffsets(deps: AssignmentDeps, assignment: Record<string, number[]>): Promise<void> {
  for (const [topic, partitions] of Object.entries(assignment)) {
    const projections = deps.projections.filter((p) => p.topic === topic);
    const offsets = await storedOffsets(deps.pool, projections, topic);
    for (const partition of partitions) {
      // A batch came meanwhile: the sink checks where it starts, and a seek now would only
      // make the consumer read it again. The seek is for partitions with nothing new to read.
      if (deps.scheduler.hasLane(topic, partition)) continue;
      deps.consumer.seek({ topic, partition, offset: String(offsets.get(partition) ?? 0) });
    }
  }
}

/**
 * The per-partition gauges describe this member's assignment: on a new one, the series of
 * partitions that moved away would otherwise stay behind with their last values (a lag, a
 * retry, parked keys another member now reports). Lag and parked keys come back with each
 * partition's next batch; a retry with its next failure.
 */
export function forgetPartitionGauges(metrics: Metrics): void {
  metrics.consumerLag.reset();
  metrics.partitionRetrying.reset();
  metrics.parkedKeys.reset();
}

/**
 * Keys stay parked on a partition that has no new records, so its batches cannot be relied on
 * to report them: each assigned partition starts from a count of its parked keys (one query
 * per projection and assignment, never per batch). A partition that has a batch by then
 * reports its own, newer count.
 */
export async function reportParkedKeys(deps: AssignmentDeps, assignment: Record<string, number[]>): Promise<void> {
  const assigned = deps.scheduler.assignment();
  for (const [topic, partitions] of Object.entries(assignment)) {
    for (const projection of deps.projections.filter((p) => p.topic === topic)) {
      const counts = await parkedKeyCounts(deps.pool, projection, topic);
      if (deps.scheduler.assignment() !== assigned) return;
      for (const partition of partitions) {
        if (deps.scheduler.hasLane(topic, partition)) continue;
        const labels = { projection: projection.name, topic, partition: String(partition) };
        deps.metrics.parkedKeys.set(labels, counts.get(partition) ?? 0);
      }
    }
  }
}

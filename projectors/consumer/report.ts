import type { Span } from '@opentelemetry/api';
import type { Logger } from '../../shared/logger.ts';
import type { Metrics } from '../../shared/metrics.ts';
import type { BatchReport, FetchedBatch } from '../pipeline/batch.ts';
import { endApplySpan } from './apply-span.ts';
import type { Settled, Step } from './scheduler.ts';

/** Metrics, logs and the span of one batch whose group ended; `seconds` is the group's time. */
export function reportSettled(
  { metrics, log }: { metrics: Metrics; log: Logger },
  { batch, step, current }: Settled,
  span: Span | undefined,
  seconds: number,
): void {
  if (span) endApplySpan(span, spanResult(step));
  const { topic, partition } = batch;
  const where = { topic, partition: String(partition) };
  switch (step.kind) {
    case 'applied':
      if (step.recovered && current) metrics.partitionRetrying.set(where, 0);
      reportApplied({ metrics, log }, batch, step.report, current, seconds);
      return;
    case 'repositioned':
      log.warn(
        { topic, partition, fetched: batch.fetchedOffset, expected: step.expected },
        'consumer is not at the stored offset; seeking to it',
      );
      return;
    case 'retrying':
      metrics.projectionRetries.inc({ topic, kind: step.cause });
      if (current) metrics.partitionRetrying.set(where, 1);
      log.warn(
        { err: step.error, topic, partition, attempt: step.attempt, kind: step.cause, retryInMs: step.delayMs },
        'batch failed; partition paused until the retry',
      );
  }
}

function spanResult(step: Step): Parameters<typeof endApplySpan>[1] {
  if (step.kind === 'applied') return { kind: 'applied', report: step.report };
  if (step.kind === 'repositioned') return { kind: 'repositioned' };
  return { kind: 'failed', err: step.error };
}

function reportApplied(
  { metrics, log }: { metrics: Metrics; log: Logger },
  batch: FetchedBatch,
  report: BatchReport,
  current: boolean,
  seconds: number,
): void {
  const { topic, partition } = batch;
  metrics.batchDuration.observe({ topic }, seconds);
  metrics.batchSize.observe({ topic }, batch.records.length);
  for (const c of report.counts)
    metrics.projectionEvents.inc({ projection: c.projection, event_type: c.eventType, outcome: c.outcome }, c.count);
  if (current)
    for (const p of report.parked)
      metrics.parkedKeys.set({ projection: p.projection, topic, partition: String(partition) }, p.keys);
  for (const letter of report.deadLetters) {
    metrics.deadLetters.inc({ projection: letter.projection, topic, code: letter.code });
    log.error(
      {
        projection: letter.projection,
        topic,
        partition: letter.source.partition,
        offset: letter.source.offset,
        code: letter.code,
        reason: letter.message,
      },
      'record dead-lettered',
    );
  }
}

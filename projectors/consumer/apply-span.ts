import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type Link, type Span } from '@opentelemetry/api';
import { MAX_LINKS, MESSAGING, TRACEPARENT, type Tracing } from '../../shared/tracing.ts';
import type { BatchReport, FetchedBatch } from '../pipeline/batch.ts';

/** How a batch's apply ended: applied, refused for starting elsewhere than the stored offset, or failed (retried). */
export type ApplyResult =
  { kind: 'applied'; report: BatchReport } | { kind: 'repositioned' } | { kind: 'failed'; err: Error };

/**
 * The consumer span of one partition batch's apply (the messaging conventions' batch process
 * span): a trace of its own, linked to the span each record's producer sent in its
 * `traceparent` header. A bulk command's events share one context, so links are kept once per
 * distinct header, and at most MAX_LINKS per batch.
 */
export function startApplySpan(tracing: Tracing, batch: FetchedBatch, consumerGroup: string): Span {
  const links: Link[] = [];
  const seen = new Set<string>();
  for (const record of batch.records) {
    if (links.length >= MAX_LINKS) break;
    const header = record.headers[TRACEPARENT];
    if (header === undefined) continue;
    const key = header.toString();
    if (seen.has(key)) continue;
    seen.add(key);
    const context = tracing.contextIn(record.headers);
    if (context) links.push({ context });
  }
  return tracing.tracer.startSpan(
    `apply ${batch.topic}`,
    {
      kind: SpanKind.CONSUMER,
      links,
      attributes: {
        [MESSAGING.system]: 'kafka',
        [MESSAGING.operationType]: 'process',
        [MESSAGING.operationName]: 'apply',
        [MESSAGING.destination]: batch.topic,
        [MESSAGING.partition]: String(batch.partition),
        [MESSAGING.consumerGroup]: consumerGroup,
        [MESSAGING.batchCount]: batch.records.length,
        'projection.batch.fetched_offset': batch.fetchedOffset,
        'projection.batch.next_offset': batch.nextOffset,
      },
    },
    ROOT_CONTEXT,
  );
}

/** Ends the span with what became of the batch: per outcome, how many events (all projections together). */
export function endApplySpan(span: Span, result: ApplyResult): void {
  span.setAttribute('projection.batch.result', result.kind);
  if (result.kind === 'applied') {
    const byOutcome = new Map<string, number>();
    for (const c of result.report.counts) byOutcome.set(c.outcome, (byOutcome.get(c.outcome) ?? 0) + c.count);
    for (const [outcome, count] of byOutcome) span.setAttribute(`projection.outcome.${outcome}`, count);
    span.setAttribute('projection.dead_letters', result.report.deadLetters.length);
  } else if (result.kind === 'failed') {
    span.recordException(result.err);
    span.setStatus({ code: SpanStatusCode.ERROR, message: result.err.message });
  }
  span.end();
}

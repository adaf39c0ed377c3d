import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric name of the system lives here. Labels are bounded: route templates, event types,
 * projections, outcomes; never ids.
 */
export function createMetrics(service: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });

  return {
    registry,
    httpRequestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route template and status code',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    eventsPublished: new Counter({
      name: 'events_published_total',
      help: 'Events acknowledged by Kafka, by event type',
      labelNames: ['event_type'] as const,
      registers: [registry],
    }),
    eventsApplied: new Counter({
      name: 'projection_events_applied_total',
      help: 'Events applied to a read model, by projection',
      labelNames: ['projection'] as const,
      registers: [registry],
    }),
    batchDuration: new Histogram({
      name: 'projection_batch_duration_seconds',
      help: 'Time to apply one batch to a read model, transaction included',
      labelNames: ['projection'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    batchFailures: new Counter({
      name: 'projection_batch_failures_total',
      help: 'Batches that failed to apply and will be retried, by projection',
      labelNames: ['projection'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

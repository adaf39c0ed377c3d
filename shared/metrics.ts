import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
    producerBatchEvents: new Histogram({
      name: 'event_log_send_events',
      help: 'Events in one produce request of the command API (micro-batching: requests arriving together share one)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
      registers: [registry],
    }),
    producerSendDuration: new Histogram({
      name: 'event_log_send_duration_seconds',
      help: 'Time from a produce request to its acknowledgement (acks=all)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    producerFailures: new Counter({
      name: 'event_log_send_failures_total',
      help: 'Produce requests that failed, by reason (timeout: no acknowledgement in time; refused: Kafka answered an error); each replaces the producer',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    consistencyWaits: new Histogram({
      name: 'query_consistency_wait_seconds',
      help: 'Time reads with a consistency token waited for the projections, by outcome (applied: caught up in time; stale: answered at the bound)',
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    projectionEvents: new Counter({
      name: 'projection_events_total',
      help: 'Events a projection has dealt with, by event type and outcome (applied, rejected, dead_lettered, parked, duplicate)',
      labelNames: ['projection', 'event_type', 'outcome'] as const,
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'projection_dead_letters_total',
      help: 'Records sent to a dead-letter topic, by projection, source topic and error class',
      labelNames: ['projection', 'topic', 'code'] as const,
      registers: [registry],
    }),
    batchDuration: new Histogram({
      name: 'projection_batch_duration_seconds',
      help: 'Time to apply one partition batch, decoding and transaction included',
      labelNames: ['topic'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'projection_batch_size',
      help: 'Records in one partition batch',
      labelNames: ['topic'] as const,
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10_000, 25_000],
      registers: [registry],
    }),
    groupSize: new Histogram({
      name: 'projection_group_batches',
      help: 'Partition batches applied together, in one transaction unless one of them failed',
      buckets: [1, 2, 3, 4, 6, 8, 12, 16, 24],
      registers: [registry],
    }),
    groupFallbacks: new Counter({
      name: 'projection_group_fallbacks_total',
      help: 'Groups of partition batches whose one transaction failed, so that each batch was applied alone',
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: 'projection_consumer_lag',
      help: 'Records behind the end of the partition after the last applied batch',
      labelNames: ['topic', 'partition'] as const,
      registers: [registry],
    }),
    parkedKeys: new Gauge({
      name: 'projection_parked_keys',
      help: 'Keys parked on a partition of this member (their later events wait behind a dead letter until a redrive), after its last batch or assignment',
      labelNames: ['projection', 'topic', 'partition'] as const,
      registers: [registry],
    }),
    partitionRetrying: new Gauge({
      name: 'projection_partition_retrying',
      help: '1 while a partition of this member is retried after a transient failure, until one of its batches applies again',
      labelNames: ['topic', 'partition'] as const,
      registers: [registry],
    }),
    projectionRetries: new Counter({
      name: 'projection_retries_total',
      help: 'Batches that failed transiently and were scheduled again, by kind (database, deployment, registry, kafka, unexpected)',
      labelNames: ['topic', 'kind'] as const,
      registers: [registry],
    }),
    consumerCrashes: new Counter({
      name: 'projection_consumer_crashes_total',
      help: 'Times kafkajs crashed the consumer (it restarts it unless the error is fatal, then the process exits)',
      registers: [registry],
    }),
    kafkaCommitFailures: new Counter({
      name: 'projection_kafka_commit_failures_total',
      help: 'Offset commits to Kafka (copies of the offsets stored in Postgres, for lag tools) that failed; nothing is lost',
      labelNames: ['topic'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

import type { Kafka } from 'kafkajs';
import type { DeadLetterTopics, Topics } from '../shared/config.ts';
import type { Pool } from '../shared/db/pool.ts';
import { EventDecoder } from '../shared/kafka/decoder.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import type { Tracing } from '../shared/tracing.ts';
import { createDeadLetterWriter } from './pipeline/dead-letters.ts';
import { createSink } from './pipeline/sink.ts';
import { catalogueProjections } from './projections.ts';
import { createProjectorRunner, type ConsumerTuning, type ProjectorRunner } from './consumer/runner.ts';
import type { RegistryConnection } from '../shared/registry.ts';

export interface ProjectorOptions {
  kafka: Kafka;
  pool: Pool;
  registry: RegistryConnection;
  groupId: string;
  topics: Topics;
  deadLetterTopics: DeadLetterTopics;
  tuning: ConsumerTuning;
  logger: Logger;
  metrics: Metrics;
  tracing?: Tracing | undefined;
  onFatal(err: Error): void;
}

/** The catalogue's projections behind one consumer group, wired once for the process and for tests. */
export function createCatalogueProjector(options: ProjectorOptions): ProjectorRunner {
  const projections = catalogueProjections(options.topics);
  const deadLetters = createDeadLetterWriter(options.kafka, options.deadLetterTopics, options.groupId);
  return createProjectorRunner({
    ...options,
    projections,
    deadLetters,
    sink: createSink({ pool: options.pool, decoder: new EventDecoder(options.registry), deadLetters, projections }),
  });
}

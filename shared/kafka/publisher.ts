import type { SpanContext } from '@opentelemetry/api';
import type { Kafka } from 'kafkajs';
import { DEFAULTS } from '../defaults.ts';
import type { Logger } from '../logger.ts';
import type { Tracing } from '../tracing.ts';
import type { EventCodec } from './codec.ts';
import { createEventLog, type EventLogMetrics, type EventLogOptions } from './event-log.ts';
import type { LogPosition } from '../events/position.ts';
import type { CatalogueEvent } from '../events/types.ts';

export interface EventPublisher {
  /**
   * Resolves with each event's position once every in-sync replica has it (acks=all); rejects
   * with UnavailableError (Kafka) when Kafka does not acknowledge in time, in which case some or
   * all of the events may be in the log nonetheless. With tracing on, each event carries
   * `origin` (the command's span) in its W3C `traceparent` header; with it off, no header.
   */
  publish(events: readonly CatalogueEvent[], origin?: SpanContext): Promise<LogPosition[]>;
  connect(): Promise<void>;
  /** Sends what is pending, then disconnects. */
  disconnect(): Promise<void>;
}

const DEFAULT_EVENT_LOG_OPTIONS: EventLogOptions = {
  ackTimeoutMs: DEFAULTS.KAFKA_ACK_TIMEOUT_MS,
  lingerMs: DEFAULTS.KAFKA_LINGER_MS,
  maxBatchEvents: DEFAULTS.KAFKA_MAX_BATCH_EVENTS,
};

/** Events encoded with the newest schema of their type, appended in micro-batches. */
export function createEventPublisher(
  kafka: Kafka,
  codec: EventCodec,
  logger: Logger,
  options: EventLogOptions = DEFAULT_EVENT_LOG_OPTIONS,
  metrics?: EventLogMetrics,
  tracing?: Tracing,
): EventPublisher {
  const log = createEventLog(kafka, codec.topics, options, logger, metrics, tracing);
  return {
    connect: () => log.connect(),
    disconnect: () => log.close(),
    publish(events, origin) {
      const encoded = events.map((e) => codec.encode(e));
      if (tracing && origin) {
        // One context per command, whatever its number of events.
        const trace = tracing.headersOf(origin);
        for (const e of encoded) Object.assign(e.headers, trace);
      }
      return log.append(encoded, origin);
    },
  };
}

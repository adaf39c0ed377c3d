import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Link,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import { Partitioners, type Kafka, type PartitionMetadata, type Producer, type RecordMetadata } from 'kafkajs';
import { UnavailableError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { MAX_LINKS, MESSAGING, type Tracing } from '../tracing.ts';
import type { EncodedEvent } from './codec.ts';
import type { LogPosition } from '../events/position.ts';

export interface EventLogOptions {
  /** How long an append may wait for Kafka's acknowledgement (acks=all) before it fails. */
  ackTimeoutMs: number;
  /** How long a send waits for more appends to join it; 0 sends on the next turn of the event loop. */
  lingerMs: number;
  /** The most events one send carries; appends beyond wait for the next. */
  maxBatchEvents: number;
}

export interface EventLog {
  connect(): Promise<void>;
  /**
   * Resolves with each event's position once every in-sync replica has it (acks=all). Rejects
   * with UnavailableError (Kafka) when Kafka does not acknowledge in time: then some or all of
   * the events may be in the log nonetheless. `origin`, the span the events come from, parents
   * or is linked from the span of the send that carries them (with tracing on).
   */
  append(events: readonly EncodedEvent[], origin?: SpanContext): Promise<LogPosition[]>;
  /** Sends what is pending, then disconnects. */
  close(): Promise<void>;
}

/** What the event log reports about its sends; optional, for processes that export metrics. */
export type EventLogMetrics = Pick<Metrics, 'producerBatchEvents' | 'producerSendDuration' | 'producerFailures'>;

/** Kafka did not take a write: the events may or may not be in the log. */
const kafkaUnavailable = (detail: string) => new UnavailableError(detail, 1, 'kafka');

interface Pending {
  events: readonly EncodedEvent[];
  partitions: number[];
  origin: SpanContext | undefined;
  resolve(positions: LogPosition[]): void;
  reject(err: Error): void;
}

/**
 * Appends events to Kafka in micro-batches: appends that arrive while a send is in flight (or
 * within the linger) share the next send, one produce request for all of them, so the round trip
 * to the broker is paid per batch, not per request. One send is in flight at a time, which keeps
 * each partition's events in append order with an idempotent producer.
 *
 * Partitions are chosen here, with the Java client's murmur2 hash of the key, so that each
 * event's offset is known from the send's answer (base offset of its partition plus its place).
 *
 * A send that is not acknowledged within `ackTimeoutMs` fails its appends, and the producer is
 * replaced: kafkajs winds back its idempotent sequence numbers after a failed send even when the
 * broker wrote the records, and a producer reused after that can be refused or, worse, write
 * records the broker takes as new. A new producer has a new producer id and starts afresh.
 *
 * With tracing, each send is a producer span (see sendSpan).
 */
export function createEventLog(
  kafka: Kafka,
  topics: readonly string[],
  options: EventLogOptions,
  logger: Logger,
  metrics?: EventLogMetrics,
  tracing?: Tracing,
): EventLog {
  const log = logger.child({ component: 'event-log' });
  const partitioner = Partitioners.DefaultPartitioner();
  /** Per topic, the partition list as the partitioner wants it. */
  const partitionLists = new Map<string, PartitionMetadata[]>();
  const queue: Pending[] = [];
  let producer: Promise<Producer> | undefined;
  let sending: Promise<void> | undefined;
  let scheduled = false;
  let closed = false;

  function newProducer(): Promise<Producer> {
    const created = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // Each message names its partition; named, the partitioner no longer warns at every start.
      createPartitioner: Partitioners.DefaultPartitioner,
      // Bounded, so that a send abandoned at the deadline ends by itself rather than retrying
      // (and reconnecting) forever. kafkajs warns that limited retries weaken its idempotence:
      // a producer whose send failed is never used again, which is what keeps that guarantee.
      retry: { retries: 4, initialRetryTime: 100, maxRetryTime: options.ackTimeoutMs },
    });
    // A producer that failed to connect may have opened connections already: they are closed.
    return created.connect().then(
      () => created,
      async (err: unknown) => {
        await created.disconnect().catch(() => undefined);
        throw err;
      },
    );
  }

  /** Disconnects a replaced producer once its abandoned send has ended, so nothing reconnects it. */
  function retire(old: Promise<Producer>, abandoned: Promise<unknown>): void {
    void abandoned
      .catch(() => undefined)
      .then(() => old)
      .then((p) => p.disconnect())
      .catch((err: unknown) => log.debug({ err }, 'retired producer did not disconnect cleanly'));
  }

  function schedule(): void {
    if (sending || scheduled || queue.length === 0) return;
    scheduled = true;
    const go = () => {
      scheduled = false;
      sending = sendNext().finally(() => {
        sending = undefined;
        schedule();
      });
    };
    if (options.lingerMs > 0) setTimeout(go, options.lingerMs);
    else setImmediate(go);
  }

  function partitionOf(event: EncodedEvent): number {
    const partitionMetadata = partitionLists.get(event.topic);
    if (!partitionMetadata) throw new Error(`Topic ${event.topic} is not one the event log writes to`);
    return partitioner({ topic: event.topic, partitionMetadata, message: { key: event.key, value: event.value } });
  }

  async function sendNext(): Promise<void> {
    const batch: Pending[] = [];
    let count = 0;
    while (queue.length > 0 && (batch.length === 0 || count + queue[0]!.events.length <= options.maxBatchEvents)) {
      const next = queue.shift()!;
      batch.push(next);
      count += next.events.length;
    }
    producer ??= newProducer();
    const current = producer;
    let deadline: NodeJS.Timeout | undefined;
    metrics?.producerBatchEvents.observe(count);
    const span = tracing && sendSpan(tracing, batch, count);
    const started = performance.now();
    const sent = send(current, batch);
    try {
      const acknowledged = await Promise.race([
        sent,
        new Promise<never>((_, reject) => {
          deadline = setTimeout(
            () => reject(kafkaUnavailable(`Kafka did not acknowledge within ${options.ackTimeoutMs} ms`)),
            options.ackTimeoutMs,
          );
        }),
      ]);
      metrics?.producerSendDuration.observe((performance.now() - started) / 1000);
      settle(batch, acknowledged);
    } catch (err) {
      log.warn({ err, events: count }, 'send failed; replacing the producer');
      metrics?.producerFailures.inc({ reason: err instanceof UnavailableError ? 'timeout' : 'refused' });
      span?.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      if (producer === current) producer = undefined;
      retire(current, sent);
      const reason =
        err instanceof UnavailableError ? err : kafkaUnavailable(`Kafka refused the write: ${(err as Error).message}`);
      for (const pending of batch) pending.reject(reason);
    } finally {
      clearTimeout(deadline);
      span?.end();
    }
  }

  async function send(current: Promise<Producer>, batch: readonly Pending[]): Promise<RecordMetadata[]> {
    const byTopic = new Map<
      string,
      Array<{ key: string; value: Buffer; headers: Record<string, string>; partition: number }>
    >();
    for (const { events, partitions } of batch) {
      events.forEach((e, i) => {
        let messages = byTopic.get(e.topic);
        if (!messages) byTopic.set(e.topic, (messages = []));
        messages.push({ key: e.key, value: e.value, headers: e.headers, partition: partitions[i]! });
      });
    }
    return (await current).sendBatch({
      acks: -1,
      timeout: options.ackTimeoutMs,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
  }

  /** Each event's offset: its partition's base offset plus the events of that partition before it in the send. */
  function settle(batch: readonly Pending[], acknowledged: readonly RecordMetadata[]): void {
    const next = new Map<string, number>();
    for (const m of acknowledged) next.set(`${m.topicName}/${m.partition}`, Number(m.baseOffset));
    for (const pending of batch) {
      const positions: LogPosition[] = [];
      for (const [i, e] of pending.events.entries()) {
        const key = `${e.topic}/${pending.partitions[i]!}`;
        const offset = next.get(key);
        if (offset === undefined) {
          pending.reject(kafkaUnavailable(`Kafka did not acknowledge partition ${key}`));
          break;
        }
        next.set(key, offset + 1);
        positions.push({ topic: e.topic, partition: pending.partitions[i]!, offset });
      }
      if (positions.length === pending.events.length) pending.resolve(positions);
    }
  }

  return {
    async connect() {
      const admin = kafka.admin();
      try {
        await admin.connect();
        const { topics: found } = await admin.fetchTopicMetadata({ topics: [...topics] });
        for (const t of found)
          partitionLists.set(
            t.name,
            [...t.partitions].sort((a, b) => a.partitionId - b.partitionId),
          );
      } finally {
        await admin.disconnect();
      }
      producer = newProducer();
      try {
        await producer;
      } catch (err) {
        producer = undefined;
        throw err;
      }
    },
    append(events, origin) {
      if (closed) return Promise.reject(kafkaUnavailable('The event log is closing'));
      if (events.length === 0) return Promise.resolve([]);
      return new Promise((resolve, reject) => {
        // The deadline counts from the append, not from its send: an append queued behind a
        // send that times out must not wait for a second timeout of its own.
        const deadline = setTimeout(() => {
          const queued = queue.indexOf(pending);
          if (queued >= 0) queue.splice(queued, 1);
          pending.reject(
            kafkaUnavailable(
              queued >= 0
                ? `Kafka was not reachable within ${options.ackTimeoutMs} ms; nothing was sent`
                : `Kafka did not acknowledge within ${options.ackTimeoutMs} ms`,
            ),
          );
        }, options.ackTimeoutMs);
        const pending: Pending = {
          events,
          partitions: events.map(partitionOf),
          origin,
          resolve: (positions) => {
            clearTimeout(deadline);
            resolve(positions);
          },
          reject: (err) => {
            clearTimeout(deadline);
            reject(err);
          },
        };
        queue.push(pending);
        schedule();
      });
    },
    async close() {
      closed = true;
      // Pending appends are sent, not dropped: their callers are still waiting for an answer.
      while (queue.length > 0 || sending || scheduled)
        await (sending ?? new Promise((resolve) => setTimeout(resolve, 1)));
      const last = producer;
      producer = undefined;
      await (await last?.catch(() => undefined))?.disconnect();
    },
  };
}

/**
 * The span of one produce request: within the trace of the command it carries when it carries
 * one (a quiet API), else its own trace linked to each command's (micro-batched appends).
 */
function sendSpan(tracing: Tracing, batch: readonly Pending[], count: number): Span {
  const attributes = {
    [MESSAGING.system]: 'kafka',
    [MESSAGING.operationType]: 'send',
    [MESSAGING.operationName]: 'send',
    [MESSAGING.batchCount]: count,
  };
  const only = batch.length === 1 ? batch[0]!.origin : undefined;
  if (only)
    return tracing.tracer.startSpan(
      'send',
      { kind: SpanKind.PRODUCER, attributes },
      trace.setSpanContext(ROOT_CONTEXT, only),
    );
  const links: Link[] = [];
  for (const { origin } of batch) if (origin && links.length < MAX_LINKS) links.push({ context: origin });
  return tracing.tracer.startSpan('send', { kind: SpanKind.PRODUCER, links, attributes }, ROOT_CONTEXT);
}

import {
  defaultTextMapSetter,
  ROOT_CONTEXT,
  trace,
  type SpanContext,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** Where a process sends its spans, from OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT (shared/config.ts). */
export interface TracingConfig {
  /** The OTLP/HTTP traces URL spans are posted to (JSON). */
  tracesUrl: string;
}

/** W3C trace context as headers: `traceparent`, and `tracestate` when the context has one. */
export type TraceHeaders = Readonly<Record<string, string>>;

/** Header values as Kafka records (Buffers) or HTTP requests (strings, lists) hold them. */
export type HeaderCarrier = Readonly<Record<string, string | Buffer | ReadonlyArray<string | Buffer> | undefined>>;

/** The W3C header naming a record's or request's parent span. */
export const TRACEPARENT = 'traceparent';

/**
 * One process's tracing: its tracer and the W3C trace context in and out of headers. A process
 * without an OTLP endpoint has none (`undefined`), and every traced place checks for it once per
 * request or batch, so that tracing off costs no spans, no header work and no SDK loaded.
 *
 * The provider is not registered globally: each service is handed its own (the tests run three
 * services in one process, each with its own `service.name`), and spans are parented explicitly,
 * so no context manager is needed either.
 */
export interface Tracing {
  readonly tracer: Tracer;
  /** The headers that carry `context` to the next process. */
  headersOf(context: SpanContext): TraceHeaders;
  /** The remote span context `headers` carry, if they carry a valid one. */
  contextIn(headers: HeaderCarrier): SpanContext | undefined;
  /** Exports what is buffered. */
  forceFlush(): Promise<void>;
  /** Exports what is buffered and stops; the process's last step. */
  shutdown(): Promise<void>;
}

/**
 * Messaging attributes of the OpenTelemetry semantic conventions. They are still incubating, so
 * they are copied here rather than imported from the package's unstable entry point, as its
 * authors advise.
 */
export const MESSAGING = {
  system: 'messaging.system',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  destination: 'messaging.destination.name',
  partition: 'messaging.destination.partition.id',
  consumerGroup: 'messaging.consumer.group.name',
  batchCount: 'messaging.batch.message_count',
} as const;

/**
 * The SDK's default limit of links per span (OTEL_SPAN_LINK_COUNT_LIMIT): a batch links at most
 * this many producer contexts, so a 5,000-record batch does not parse 5,000 headers for nothing.
 */
export const MAX_LINKS = 128;

const headerGetter: TextMapGetter<HeaderCarrier> = {
  keys: (carrier) => Object.keys(carrier),
  get(carrier, key) {
    const value = carrier[key];
    if (value === undefined || typeof value === 'string') return value;
    if (Buffer.isBuffer(value)) return value.toString('latin1');
    return value.map((v) => v.toString('latin1'));
  },
};

/**
 * Tracing for `service` when it is configured: a batch span processor posting OTLP/HTTP JSON to
 * `config.tracesUrl`. Without a config, nothing at all: not even the SDK is loaded. The SDK reads
 * its other standard variables itself (OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS,
 * OTEL_RESOURCE_ATTRIBUTES...).
 */
export async function startTracing(service: string, config: TracingConfig | undefined): Promise<Tracing | undefined> {
  if (!config) return undefined;
  const [{ BatchSpanProcessor }, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  return createTracing(service, new BatchSpanProcessor(new OTLPTraceExporter({ url: config.tracesUrl })));
}

/** Tracing for `service` whose spans go to `processor` (tests hand in an in-memory one). */
export async function createTracing(service: string, processor: SpanProcessor): Promise<Tracing> {
  const [
    { BasicTracerProvider },
    { W3CTraceContextPropagator },
    { detectResources, envDetector, resourceFromAttributes },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
  ]);
  // OTEL_RESOURCE_ATTRIBUTES may add to the resource (an instance id, an environment); the
  // service's name is ours.
  const resource = detectResources({ detectors: [envDetector] }).merge(
    resourceFromAttributes({ [ATTR_SERVICE_NAME]: service }),
  );
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  const propagator = new W3CTraceContextPropagator();
  return {
    tracer: provider.getTracer('movie-catalogue'),
    headersOf(context) {
      const headers: Record<string, string> = {};
      propagator.inject(trace.setSpanContext(ROOT_CONTEXT, context), headers, defaultTextMapSetter);
      return headers;
    },
    contextIn(headers) {
      return trace.getSpanContext(propagator.extract(ROOT_CONTEXT, headers, headerGetter));
    },
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

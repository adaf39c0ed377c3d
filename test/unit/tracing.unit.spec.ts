import assert from 'node:assert/strict';
import { beforeEach, describe, it, type TestContext } from 'node:test';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Kafka, TopicMessages } from 'kafkajs';
import { mintToken } from '../../command-api/mint-token.ts';
import { endApplySpan, startApplySpan } from '../../projectors/consumer/apply-span.ts';
import { deadLetterMessage, type SourceRecord } from '../../projectors/pipeline/dead-letters.ts';
import { loadQueryApiConfig } from '../../query-api/config.ts';
import { tracingFrom } from '../../shared/config.ts';
import { EventCodec } from '../../shared/kafka/codec.ts';
import { createEventPublisher } from '../../shared/kafka/publisher.ts';
import { createLogger } from '../../shared/logger.ts';
import { createTracing, startTracing, type Tracing } from '../../shared/tracing.ts';
import { buildUnitCommandApp, UNIT_JWT_SECRET } from '../support/command-app.ts';

const TOPICS = { movieMetadata: 'movie-metadata', movieRatings: 'movie-ratings' };

/** Kafka as far as the event log uses it: one partition per topic, every send recorded and acknowledged. */
function recordingKafka() {
  const sent: TopicMessages[] = [];
  const kafka = {
    admin: () => ({
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      fetchTopicMetadata: ({ topics }: { topics: string[] }) =>
        Promise.resolve({
          topics: topics.map((name) => ({
            name,
            partitions: [{ partitionId: 0, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }],
          })),
        }),
    }),
    producer: () => ({
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      sendBatch: ({ topicMessages }: { topicMessages: TopicMessages[] }) => {
        sent.push(...topicMessages);
        return Promise.resolve(
          topicMessages.map(({ topic }) => ({ topicName: topic, partition: 0, errorCode: 0, baseOffset: '0' })),
        );
      },
    }),
  };
  return {
    kafka: kafka as unknown as Kafka,
    sent,
    headers: () => sent.flatMap((t) => t.messages.map((m) => m.headers as Record<string, string>)),
  };
}

/** The registry only hands out ids when the codec registers its schemas. */
async function unitCodec(): Promise<EventCodec> {
  let id = 0;
  return EventCodec.forWriting({ register: () => Promise.resolve({ id: ++id }) } as unknown as SchemaRegistry, TOPICS);
}

/** The command API with its real publisher, event log and codec, over a Kafka that records what it is sent. */
async function commandApi(t: TestContext, tracing: Tracing | undefined) {
  const log = recordingKafka();
  const publisher = createEventPublisher(
    log.kafka,
    await unitCodec(),
    createLogger('test', 'silent'),
    { ackTimeoutMs: 1000, lingerMs: 0, maxBatchEvents: 5000 },
    undefined,
    tracing,
  );
  await publisher.connect();
  const app = await buildUnitCommandApp({ publisher, tracing });
  t.after(async () => {
    await app.close();
    await publisher.disconnect();
  });
  const command = (url: string, roles: string[], payload: object, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${mintToken(UNIT_JWT_SECRET, { sub: 'ada', roles }, 60)}`, ...headers },
      payload,
    });
  return { ...log, command };
}

const bulk = {
  providerId: 'imdb',
  ratings: [
    { movieId: 'm1', userId: 'u1', value: 5 },
    { movieId: 'm2', userId: 'u2', value: 3 },
  ],
};

describe('tracing off (no OTLP endpoint)', () => {
  it('is off unless an endpoint is set (or the SDK is disabled), and then nothing is started', async () => {
    assert.equal(tracingFrom({}), undefined);
    assert.equal(
      tracingFrom({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE' }),
      undefined,
    );
    assert.equal(
      loadQueryApiConfig({ EVENT_ID_SECRET: 'e'.repeat(32), OTEL_EXPORTER_OTLP_ENDPOINT: '' }).tracing,
      undefined,
    );
    assert.equal(await startTracing('command-api', undefined), undefined);
  });

  it('adds no traceparent header to the events a command writes', async (t) => {
    const api = await commandApi(t, undefined);
    const rated = await api.command(
      '/v1/movies/m1/ratings',
      ['user'],
      { value: 4 },
      { traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` },
    );
    const imported = await api.command('/v1/ratings/batch', ['provider'], bulk);
    assert.deepEqual([rated.statusCode, imported.statusCode], [202, 202]);
    const headers = api.headers();
    assert.equal(headers.length, 3);
    for (const h of headers) assert.deepEqual(Object.keys(h).sort(), ['event-type', 'schema-version']);
  });
});

describe('tracing on', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  beforeEach(async () => {
    exporter.reset();
    tracing = await createTracing('command-api', new SimpleSpanProcessor(exporter));
  });

  it('reads the endpoint as OTLP/HTTP does, and refuses one that is no URL', () => {
    assert.deepEqual(tracingFrom({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }), {
      tracesUrl: 'http://collector:4318/v1/traces',
    });
    assert.deepEqual(
      tracingFrom({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/in',
      }),
      { tracesUrl: 'https://traces.example/in' },
    );
    assert.throws(
      () => loadQueryApiConfig({ EVENT_ID_SECRET: 'e'.repeat(32), OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }),
      /OTEL_EXPORTER_OTLP_ENDPOINT: must be a http: or https: URL/,
    );
  });

  it("writes the command span's context into every event of the command, and continues the caller's trace", async (t) => {
    const api = await commandApi(t, tracing);
    const callerTrace = 'a'.repeat(32);
    const imported = await api.command('/v1/ratings/batch', ['provider'], bulk, {
      traceparent: `00-${callerTrace}-${'b'.repeat(16)}-01`,
    });
    assert.equal(imported.statusCode, 202);
    const spans = exporter.getFinishedSpans();
    const server = spans.find((s) => s.name === 'POST /v1/ratings/batch');
    assert.ok(server, `spans: ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(server.spanContext().traceId, callerTrace);
    assert.equal(server.parentSpanContext?.spanId, 'b'.repeat(16));
    const traceparent = `00-${callerTrace}-${server.spanContext().spanId}-01`;
    assert.deepEqual(
      api.headers().map((h) => h.traceparent),
      [traceparent, traceparent],
    );
    const send = spans.find((s) => s.name === 'send');
    assert.equal(send?.parentSpanContext?.spanId, server.spanContext().spanId);
  });

  it('links a batch apply once per distinct producer context, ignoring records without a valid one', () => {
    const [a, b] = [`00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`, `00-${'3'.repeat(32)}-${'4'.repeat(16)}-01`];
    const record = (offset: number, headers: SourceRecord['headers']): SourceRecord => ({
      topic: 't',
      partition: 2,
      offset,
      key: null,
      value: null,
      headers,
      timestamp: '0',
    });
    const records = [
      record(10, { traceparent: Buffer.from(a) }),
      record(11, { traceparent: Buffer.from(a) }),
      record(12, {}),
      record(13, { traceparent: 'garbage' }),
      record(14, { traceparent: Buffer.from(b) }),
    ];
    const span = startApplySpan(
      tracing,
      { topic: 't', partition: 2, fetchedOffset: 10, nextOffset: 15, records },
      'group',
    );
    endApplySpan(span, {
      kind: 'applied',
      report: {
        counts: [
          { projection: 'ratings', eventType: 'RatingSubmitted', outcome: 'applied', count: 2 },
          { projection: 'ratings', eventType: 'RatingDeleted', outcome: 'applied', count: 1 },
          { projection: 'ratings', eventType: 'unknown', outcome: 'duplicate', count: 1 },
        ],
        deadLetters: [],
        parked: [],
      },
    });
    const [applied] = exporter.getFinishedSpans();
    assert.deepEqual(
      applied?.links.map((l) => l.context.spanId),
      ['2'.repeat(16), '4'.repeat(16)],
    );
    assert.equal(applied?.name, 'apply t');
    assert.equal(applied?.parentSpanContext, undefined);
    assert.deepEqual(
      {
        count: applied?.attributes['messaging.batch.message_count'],
        applied: applied?.attributes['projection.outcome.applied'],
        duplicate: applied?.attributes['projection.outcome.duplicate'],
      },
      { count: 5, applied: 3, duplicate: 1 },
    );
  });
});

describe('dead letters', () => {
  it("keep the record's trace context headers", () => {
    const traceparent = Buffer.from(`00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`);
    const source: SourceRecord = {
      topic: 't',
      partition: 0,
      offset: 7,
      key: Buffer.from('m1'),
      value: Buffer.from('x'),
      headers: { traceparent, tracestate: 'k=v' },
      timestamp: '0',
    };
    const { headers } = deadLetterMessage(
      { source, projection: 'ratings', code: 'undecodable', message: 'bad bytes' },
      { consumerGroup: 'g', now: new Date(0) },
    );
    assert.equal(headers?.traceparent, traceparent);
    assert.equal(headers?.tracestate, 'k=v');
  });
});

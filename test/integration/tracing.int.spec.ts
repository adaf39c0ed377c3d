import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { tracingFrom } from '../../shared/config.ts';
import { startTracing, type Tracing } from '../../shared/tracing.ts';
import { eventually } from '../../harness/eventually.ts';
import { startOtlpCollector, type CollectedSpan } from '../support/otlp-collector.ts';
import { startSystem, type SystemTracing, type TestSystem } from '../support/system.ts';
import { readRecords } from '../support/topic-log.ts';

const KIND = { server: 2, producer: 4, consumer: 5 };

/**
 * Traces through the whole system, exported over OTLP/HTTP to a receiver in this process: the
 * command's server span, its context in the event's Kafka headers, the projector's apply span
 * linked to it, and the query's server span continuing its caller's trace.
 */
describe('traces, from the command through Kafka into the projection and out of the query API', () => {
  let collector: Awaited<ReturnType<typeof startOtlpCollector>>;
  let tracings: Required<SystemTracing>;
  let system: TestSystem;

  before(async () => {
    collector = await startOtlpCollector();
    // As each main.ts starts it, from OTEL_EXPORTER_OTLP_ENDPOINT.
    const start = async (service: string): Promise<Tracing> => {
      const tracing = await startTracing(service, tracingFrom({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint }));
      assert.ok(tracing, 'an endpoint turns tracing on');
      return tracing;
    };
    tracings = {
      commandApi: await start('command-api'),
      queryApi: await start('query-api'),
      projectors: await start('projectors'),
    };
    system = await startSystem({ tracing: tracings });
  });
  after(async () => {
    await system?.stop();
    await Promise.all(Object.values(tracings ?? {}).map((t) => t.shutdown()));
    await collector?.close();
  });

  /** Exports what each service holds, then finds the one span that `matches`. */
  async function spanWhere(what: string, matches: (span: CollectedSpan) => boolean): Promise<CollectedSpan> {
    return eventually(async () => {
      await Promise.all(Object.values(tracings).map((t) => t.forceFlush()));
      const found = collector.spans.filter(matches);
      assert.equal(
        found.length,
        1,
        `${what}: ${found.length} spans among ${JSON.stringify(collector.spans.map((s) => `${s.service}: ${s.name}`))}`,
      );
      return found[0]!;
    });
  }

  it('links the command, its Kafka send, the projector apply and the query', async () => {
    const movieId = `tt${randomBytes(4).toString('hex')}`;
    const accepted = await fetch(`${system.commandUrl}/v1/movies/${movieId}/metadata`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${system.token('ada', ['admin'])}`,
        'content-type': 'application/json',
        'x-correlation-id': 'traced-1',
      },
      body: JSON.stringify({ title: 'Heat', description: 'LA crime saga', director: 'Michael Mann' }),
    });
    assert.equal(accepted.status, 202);
    const { position, consistencyToken } = (await accepted.json()) as {
      position: { topic: string; partition: number; offset: number };
      consistencyToken: string;
    };

    // The caller of the query has a trace of its own, which the query's span continues.
    const caller = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
    const read = await fetch(`${system.queryUrl}/v1/movies/${movieId}`, {
      headers: { 'x-consistency-token': consistencyToken, traceparent: `00-${caller.traceId}-${caller.spanId}-01` },
    });
    assert.equal(read.status, 200);
    assert.equal(read.headers.get('x-consistency'), 'consistent');
    assert.equal((await fetch(`${system.queryUrl}/health/live`)).status, 200);

    const command = await spanWhere('command span', (s) => s.service === 'command-api' && s.kind === KIND.server);
    assert.equal(command.name, 'POST /v1/movies/:movieId/metadata');
    assert.equal(command.parentSpanId, undefined);
    assert.deepEqual(command.attributes, {
      'http.request.method': 'POST',
      'http.route': '/v1/movies/:movieId/metadata',
      'url.path': `/v1/movies/${movieId}/metadata`,
      'moviecatalogue.correlation_id': 'traced-1',
      'http.response.status_code': 202,
    });

    // The event carries the command span's context in its headers, as written to the log.
    const [record] = (await readRecords(system.kafka, system.topics.movieMetadata)).filter((r) => r.key === movieId);
    assert.equal(record?.headers.traceparent, `00-${command.traceId}-${command.spanId}-01`);

    // The send carried this command alone: it is part of the command's trace.
    const send = await spanWhere('send span', (s) => s.service === 'command-api' && s.kind === KIND.producer);
    assert.deepEqual(
      { name: send.name, traceId: send.traceId, parentSpanId: send.parentSpanId, attributes: send.attributes },
      {
        name: 'send',
        traceId: command.traceId,
        parentSpanId: command.spanId,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'send',
          'messaging.operation.name': 'send',
          'messaging.batch.message_count': 1,
        },
      },
    );

    // The apply is a trace of its own, linked to the command's span.
    const apply = await spanWhere(
      'apply span',
      (s) =>
        s.service === 'projectors' &&
        s.kind === KIND.consumer &&
        s.attributes['projection.outcome.applied'] !== undefined,
    );
    assert.equal(apply.name, `apply ${system.topics.movieMetadata}`);
    assert.notEqual(apply.traceId, command.traceId);
    assert.deepEqual(
      apply.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
      [{ traceId: command.traceId, spanId: command.spanId }],
    );
    assert.deepEqual(apply.attributes, {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'apply',
      'messaging.destination.name': system.topics.movieMetadata,
      'messaging.destination.partition.id': String(position.partition),
      'messaging.consumer.group.name': apply.attributes['messaging.consumer.group.name'],
      'messaging.batch.message_count': 1,
      'projection.batch.fetched_offset': position.offset,
      'projection.batch.next_offset': position.offset + 1,
      'projection.batch.result': 'applied',
      'projection.outcome.applied': 1,
      'projection.dead_letters': 0,
    });
    assert.match(String(apply.attributes['messaging.consumer.group.name']), /^group-/);

    const query = await spanWhere('query span', (s) => s.service === 'query-api' && s.kind === KIND.server);
    assert.deepEqual(
      {
        name: query.name,
        traceId: query.traceId,
        parentSpanId: query.parentSpanId,
        status: query.attributes['http.response.status_code'],
        consistency: query.attributes['moviecatalogue.consistency'],
      },
      {
        name: 'GET /v1/movies/:movieId',
        traceId: caller.traceId,
        parentSpanId: caller.spanId,
        status: 200,
        consistency: 'consistent',
      },
    );
    // Health checks and metrics scrapes are not traced.
    assert.equal(collector.spans.filter((s) => s.name.includes('/health')).length, 0);
  });
});

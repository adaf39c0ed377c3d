import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { EVENT_SCHEMAS } from '../../shared/kafka/schema-catalog.ts';
import { EventDecoder, type DecodeResult } from '../../shared/kafka/decoder.ts';

import type { MovieMetadataSet, RatingSubmitted } from '../../shared/events/types.ts';
import { codecSuite } from '../support/codec-suite.ts';
import { createTestTopics, services } from '../../harness/services.ts';
import { EventCodec } from '../../shared/kafka/codec.ts';
import { openRegistry, registryClient } from '../../shared/registry.ts';

/** Avro in the Confluent wire format through the real schema registry, every version readable. */
describe('event codec and decoder', () => {
  const suite = codecSuite();
  const { registry, decoder } = suite;

  const event: MovieMetadataSet = {
    type: 'MovieMetadataSet',
    envelope: {
      eventId: '7d0f5a7e-8a43-4a7e-9a59-0c7f1f3b2a10',
      occurredAt: new Date('2026-11-22T10:00:00.123Z'),
      principal: 'admin-1',
      correlationId: 'corr-9',
    },
    movieId: 'tt0133093',
    title: 'The Matrix',
    description: 'A hacker learns the truth.',
    director: 'Lana Wachowski',
    year: null,
    actors: ['Keanu Reeves'],
    expectedVersion: 3,
  };
  const asHeaders = (headers: Record<string, string>) =>
    Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)]));
  const poisonCode = (result: DecodeResult) => (result.ok ? 'decoded' : result.poison.code);

  it('writes the newest version in the wire format with headers, and reads back the same event', async () => {
    const encoded = suite.codec.encode(event);
    assert.equal(encoded.topic, suite.topics.movieMetadata);
    assert.equal(encoded.key, 'tt0133093');
    assert.equal(encoded.value[0], 0, 'Confluent magic byte');
    assert.deepEqual(encoded.headers, {
      'event-type': 'MovieMetadataSet',
      'schema-version': '2',
    });
    assert.deepEqual(await decoder.decode({ value: encoded.value, headers: asHeaders(encoded.headers) }), {
      ok: true,
      event,
      schemaVersion: 2,
    });
  });

  it('reads a v1 event as today’s shape, with the fields it lacks at their defaults', async () => {
    const v1 = suite.codec.encode(event, 1);
    assert.deepEqual(await decoder.decode({ value: v1.value, headers: asHeaders(v1.headers) }), {
      ok: true,
      event: { ...event, expectedVersion: null },
      schemaVersion: 1,
    });
    const submitted: RatingSubmitted = {
      type: 'RatingSubmitted',
      envelope: event.envelope,
      recordType: 'movie',
      recordId: 'm1',
      userId: 'u1',
      value: 4,
      providerId: 'acme',
    };
    const rating = suite.codec.encode(submitted, 1);
    assert.deepEqual(await decoder.decode({ value: rating.value }), {
      ok: true,
      event: { ...submitted, providerId: null },
      schemaVersion: 1,
    });
  });

  it('registers every version under the topic and record name, oldest first', async () => {
    const subject = `${suite.topics.movieMetadata}-moviecatalogue.events.MovieMetadataSet`;
    const versions = (await (await fetch(`${services.registryUrl}/subjects/${subject}/versions`)).json()) as number[];
    assert.deepEqual(versions, [1, 2]);
  });

  it('registers the same schemas from several instances starting at once', async (t) => {
    const topics = await createTestTopics(1);
    t.after(() => topics.remove());
    const codecs = await Promise.all(
      [1, 2, 3].map(() => EventCodec.forWriting(registryClient(services.registry), topics)),
    );
    assert.equal(new Set(codecs.map((codec) => codec.encode(event).value.readInt32BE(1))).size, 1);
  });

  it('turns every kind of bad record into a classified poison result', async () => {
    const encoded = suite.codec.encode(event);
    const unknownSchema = Buffer.from(encoded.value);
    unknownSchema.writeInt32BE(2_000_000_000, 1);
    const truncated = encoded.value.subarray(0, encoded.value.length - 3);
    const results = await decoder.decodeAll([
      { value: Buffer.from('not avro at all') },
      { value: null },
      { value: unknownSchema },
      { value: encoded.value, headers: { 'event-type': Buffer.from('Nope') } },
      { value: encoded.value, headers: { 'event-type': Buffer.from('RatingSubmitted') } },
      { value: truncated },
      { value: suite.codec.encode({ ...event, title: '   ' }).value },
      { value: encoded.value, headers: {} },
    ]);
    assert.deepEqual(results.map(poisonCode), [
      'not_avro',
      'not_avro',
      'unknown_schema',
      'unknown_event_type',
      'unknown_event_type',
      'undecodable',
      'invalid_event',
      'decoded',
    ]);
    assert.deepEqual(results[6], {
      ok: false,
      poison: { code: 'invalid_event', message: 'MovieMetadataSet: title is empty', eventId: event.envelope.eventId },
    });
  });

  it('refuses at once an array whose block count claims more items than the record has bytes left', async () => {
    // A few bytes can claim forty million actors; read blindly, that many items are read past
    // the end of the record (seconds and gigabytes for one poison record, minutes for more).
    const claim = avro.Type.forSchema('long').toBuffer(40_000_000);
    const encoded = suite.codec.encode({ ...event, actors: [], expectedVersion: null });
    // The body ends with the actors (no block: 0) and expectedVersion (null: 0).
    const readerSide = Buffer.concat([encoded.value.subarray(0, -2), claim, Buffer.from([0, 0])]);
    // A writer schema with an array our reader lacks, which resolution skips rather than reads.
    const extended = JSON.parse(
      EVENT_SCHEMAS.find((s) => s.fullName === 'moviecatalogue.events.MovieMetadataSet')!.definition,
    ) as { fields: unknown[] };
    extended.fields.push({ name: 'tags', type: { type: 'array', items: 'string' }, default: [] });
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(extended) },
      { subject: `${suite.topics.movieMetadata}-extended` },
    );
    const { envelope, ...fields } = event;
    const record = {
      envelope: { ...envelope, occurredAt: envelope.occurredAt.getTime() },
      ...fields,
      type: undefined,
      actors: [],
      expectedVersion: null,
      tags: [],
    };
    const body = avro.Type.forSchema(extended as avro.Schema).toBuffer(record);
    const writerSide = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body.subarray(0, -1), claim, Buffer.from([0])]);
    writerSide.writeInt32BE(id, 1);
    await decoder.decodeAll([{ value: encoded.value }, { value: writerSide }]);

    for (const value of [readerSide, writerSide]) {
      const started = performance.now();
      assert.equal(poisonCode(await decoder.decode({ value })), 'undecodable');
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 100, `decoded in ${Math.round(elapsed)} ms`);
    }
  });

  it('tells a registry outage from poison', async () => {
    const encoded = suite.codec.encode(event);
    const unreachable = new EventDecoder(openRegistry('http://127.0.0.1:1'));
    await assert.rejects(unreachable.decode({ value: encoded.value }), {
      name: 'UnavailableError',
      dependency: 'registry',
    });
  });
});

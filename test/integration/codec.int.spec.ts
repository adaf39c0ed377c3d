import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventCodec } from '../../shared/events/codec.ts';
import { InvalidEventError, RegistryUnavailableError, UndecodableEventError } from '../../shared/events/errors.ts';
import type { MovieMetadataSet } from '../../shared/events/types.ts';
import { createTestTopics, services, type TestTopics } from '../support/services.ts';

/** Avro in the Confluent wire format through the real schema registry. */
describe('event codec', () => {
  const registry = EventCodec.connect(services.registryUrl);
  let topics: TestTopics;
  let codec: EventCodec;

  before(async () => {
    topics = await createTestTopics(1);
    codec = await EventCodec.forWriting(registry, topics);
  });
  after(() => topics.remove());

  const event: MovieMetadataSet = {
    type: 'MovieMetadataSet',
    envelope: { eventId: '7d0f5a7e-8a43-4a7e-9a59-0c7f1f3b2a10', occurredAt: new Date('2026-11-22T10:00:00.123Z'), principal: 'admin-1', correlationId: 'corr-9' },
    movieId: 'tt0133093',
    title: 'The Matrix',
    description: 'A hacker learns the truth.',
    director: 'Lana Wachowski',
    year: null,
    actors: ['Keanu Reeves'],
  };

  it('writes the wire format with type and version headers, and reads back the same event', async () => {
    const encoded = await codec.encode(event);
    assert.equal(encoded.topic, topics.movieMetadata);
    assert.equal(encoded.key, 'tt0133093');
    assert.equal(encoded.value[0], 0, 'Confluent magic byte');
    assert.deepEqual(encoded.headers, {
      'event-type': 'MovieMetadataSet',
      'schema-version': '1',
      'event-id': event.envelope.eventId,
      'correlation-id': 'corr-9',
    });
    const headers = Object.fromEntries(Object.entries(encoded.headers).map(([k, v]) => [k, Buffer.from(v)]));
    assert.deepEqual(await EventCodec.forReading(registry).decode(encoded.value, headers), event);
  });

  it('registers the schema under the topic and record name', async () => {
    const subjects = (await (await fetch(`${services.registryUrl}/subjects`)).json()) as string[];
    assert.ok(subjects.includes(`${topics.movieMetadata}-moviecatalogue.events.MovieMetadataSet`));
  });

  it('refuses bytes that are not an event as undecodable', async () => {
    const headers = { 'event-type': Buffer.from('MovieMetadataSet') };
    await assert.rejects(codec.decode(Buffer.from('not avro at all'), headers), UndecodableEventError);
    await assert.rejects(codec.decode(null, headers), UndecodableEventError);
    const encoded = await codec.encode(event);
    await assert.rejects(codec.decode(encoded.value, {}), UndecodableEventError);
    await assert.rejects(codec.decode(encoded.value, { 'event-type': Buffer.from('Nope') }), UndecodableEventError);
    // The right bytes under the wrong type: the writer schema gives it away.
    await assert.rejects(codec.decode(encoded.value, { 'event-type': Buffer.from('RatingSubmitted') }), UndecodableEventError);
    const unknownSchema = Buffer.from(encoded.value);
    unknownSchema.writeInt32BE(2_000_000_000, 1);
    await assert.rejects(codec.decode(unknownSchema, headers), UndecodableEventError);
  });

  it('refuses a well-formed event that breaks an invariant', async () => {
    const encoded = await codec.encode({ ...event, title: '   ' });
    await assert.rejects(codec.decode(encoded.value, { 'event-type': Buffer.from('MovieMetadataSet') }), InvalidEventError);
  });

  it('tells a registry outage from poison', async () => {
    const encoded = await codec.encode(event);
    const unreachable = EventCodec.forReading(EventCodec.connect('http://127.0.0.1:1'));
    await assert.rejects(unreachable.decode(encoded.value, { 'event-type': Buffer.from('MovieMetadataSet') }), RegistryUnavailableError);
  });
});

import { after, before } from 'node:test';
import { EventCodec } from '../../shared/kafka/codec.ts';
import { EventDecoder } from '../../shared/kafka/decoder.ts';
import { createTestTopics, services, type TestTopics } from '../../harness/services.ts';
import { registryClient } from '../../shared/registry.ts';

export interface CodecSuite {
  registry: ReturnType<typeof registryClient>;
  decoder: EventDecoder;
  /** Set once the suite's `before` has run. */
  codec: EventCodec;
  topics: TestTopics;
}

/**
 * For the suite that calls it, against the real registry: a decoder, and a codec writing to
 * fresh one-partition topics, created before its tests and removed after them.
 */
export function codecSuite(): CodecSuite {
  const suite = {
    registry: registryClient(services.registry),
    decoder: new EventDecoder(services.registry),
  } as CodecSuite;
  before(async () => {
    suite.topics = await createTestTopics(1);
    suite.codec = await EventCodec.forWriting(suite.registry, suite.topics);
  });
  after(() => suite.topics.remove());
  return suite;
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro from 'avsc';
import fc from 'fast-check';
import type { IHeaders } from 'kafkajs';
import type { DecodeResult, RawRecord } from '../../shared/kafka/decoder.ts';
import type { PoisonCode } from '../../shared/kafka/poison.ts';
import { ID_PATTERN, type CatalogueEvent } from '../../shared/events/types.ts';
import { eventProblems } from '../../shared/events/validation.ts';
import { WIRE_HEADER_BYTES } from '../../shared/kafka/wire.ts';
import { codecSuite } from '../support/codec-suite.ts';

/**
 * Bad bytes in a topic (issue 9, "Bad input at scale"): whatever a record holds, the decoder
 * answers, quickly, with an event or a classified poison result; it never throws and never
 * hangs. Against the real registry, since the decoder looks writer schemas up there (it takes
 * a registry URL, not a schema lookup of its own). `FUZZ_SEED=<n>` replays a failed run.
 */
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const POISON_CODES: readonly PoisonCode[] = [
  'not_avro',
  'unknown_schema',
  'unknown_event_type',
  'undecodable',
  'invalid_event',
];
/** One record's decoding, even of a forged one, must not hold a projector: the bound is generous. */
const DECODE_BOUND_MS = 250;

const text = fc.string({ unit: 'grapheme', maxLength: 30 });
const visible = text.map((s) => `x${s}`.replaceAll('\u0000', ''));
const id = fc.stringMatching(ID_PATTERN);
const envelope = fc.record(
  {
    eventId: fc.uuid(),
    occurredAt: fc.date({
      min: new Date('1970-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59Z'),
      noInvalidDate: true,
    }),
    principal: fc.stringMatching(/^[!-~]{1,128}$/),
    correlationId: fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/),
  },
  { noNullPrototype: true },
);
const validEvent: fc.Arbitrary<CatalogueEvent> = fc.oneof(
  fc.record(
    {
      type: fc.constant('MovieMetadataSet' as const),
      envelope,
      movieId: id,
      title: visible,
      description: text.map((s) => s.replaceAll('\u0000', '')),
      director: visible,
      year: fc.option(fc.integer({ min: 1870, max: 2100 })),
      actors: fc.array(visible, { maxLength: 5 }),
      expectedVersion: fc.option(fc.nat({ max: 1000 })),
    },
    { noNullPrototype: true },
  ),
  fc.record(
    {
      type: fc.constant('RatingSubmitted' as const),
      envelope,
      recordType: fc.constant('movie'),
      recordId: id,
      userId: fc.stringMatching(/^[!-~]{1,128}$/),
      value: fc.integer({ min: 1, max: 5 }),
      providerId: fc.option(id),
    },
    { noNullPrototype: true },
  ),
  fc.record(
    {
      type: fc.constant('RatingDeleted' as const),
      envelope,
      recordType: fc.constant('movie'),
      recordId: id,
      userId: fc.stringMatching(/^[!-~]{1,128}$/),
    },
    { noNullPrototype: true },
  ),
);

/** A forged record, and the poison code it must end in when that is certain. */
interface Case {
  kind: string;
  record: RawRecord;
  expect?: PoisonCode | 'decoded';
}

/** Five bytes of Avro long that claim about a billion (zigzag), or more. */
const hugeVarint = fc.constantFrom(
  Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f]),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
  avro.Type.forSchema('long').toBuffer(2 ** 40),
  avro.Type.forSchema('long').toBuffer(-(2 ** 40)),
  avro.Type.forSchema('long').toBuffer(2_000_000_000),
);

const headerValue = fc.oneof(
  fc.string(),
  fc.constantFrom('MovieMetadataSet', 'RatingSubmitted', 'RatingDeleted', '', '2', '-1', '1e3'),
);
const headers: fc.Arbitrary<IHeaders | undefined> = fc.option(
  fc.dictionary(
    fc.constantFrom('event-type', 'schema-version', 'event-id', 'x-other'),
    fc.oneof(
      headerValue.map((v) => Buffer.from(v)),
      headerValue,
      fc.array(
        headerValue.map((v) => Buffer.from(v)),
        { maxLength: 2 },
      ),
    ),
  ),
  { nil: undefined },
);

describe('event decoder under malformed input', () => {
  const suite = codecSuite();
  const { decoder } = suite;

  /** An event of any type and any version we write, in the wire format. */
  const encoded = () =>
    fc.tuple(validEvent, fc.boolean()).map(([event, older]) => {
      const version = older && event.type !== 'RatingDeleted' ? 1 : undefined;
      return { event, version, value: suite.codec.encode(event, version).value };
    });
  /** The event a reader of today's schema sees: a v1 lacks the fields v2 added. */
  const asRead = (event: CatalogueEvent, version: number | undefined): CatalogueEvent => {
    if (version !== 1) return event;
    if (event.type === 'MovieMetadataSet') return { ...event, expectedVersion: null };
    if (event.type === 'RatingSubmitted') return { ...event, providerId: null };
    return event;
  };
  const body = (value: Buffer) => value.subarray(WIRE_HEADER_BYTES);
  const withSchemaId = (schemaId: number, rest: Buffer) => {
    const value = Buffer.concat([Buffer.alloc(WIRE_HEADER_BYTES), rest]);
    value.writeInt32BE(schemaId, 1);
    return value;
  };

  const cases = (): fc.Arbitrary<Case> =>
    fc.oneof(
      fc.constantFrom<Case>(
        { kind: 'empty', record: { value: Buffer.alloc(0) }, expect: 'not_avro' },
        { kind: 'null value', record: { value: null }, expect: 'not_avro' },
      ),
      fc
        .record({ bytes: fc.uint8Array({ maxLength: 300 }), headers })
        .map(({ bytes, headers }): Case => ({ kind: 'random bytes', record: { value: Buffer.from(bytes), headers } })),
      fc.tuple(encoded(), fc.integer({ min: 1, max: 255 })).map(([{ value }, magic]): Case => {
        const wrong = Buffer.from(value);
        wrong[0] = magic;
        return { kind: 'magic byte wrong', record: { value: wrong }, expect: 'not_avro' };
      }),
      // Ids far beyond what the registry has handed out, and negative ones.
      fc
        .tuple(
          encoded(),
          fc.oneof(fc.integer({ min: 2 ** 30, max: 2 ** 31 - 1 }), fc.integer({ min: -(2 ** 31), max: -1 })),
        )
        .map(([{ value }, schemaId]): Case => ({
          kind: 'schema id unknown',
          record: { value: withSchemaId(schemaId, body(value)) },
          expect: 'unknown_schema',
        })),
      fc.tuple(encoded(), fc.nat()).map(([{ value }, cut]): Case => {
        const length = cut % value.length;
        return {
          kind: 'truncated',
          record: { value: value.subarray(0, length) },
          expect: length < WIRE_HEADER_BYTES ? 'not_avro' : 'undecodable',
        };
      }),
      fc.tuple(encoded(), fc.uint8Array({ maxLength: 200 }), headers).map(([{ value }, bytes, headers]): Case => ({
        kind: 'valid header, random body',
        record: { value: withSchemaId(value.readInt32BE(1), Buffer.from(bytes)), headers },
      })),
      fc.tuple(encoded(), fc.array(fc.nat(), { minLength: 1, maxLength: 8 })).map(([{ value }, bits]): Case => {
        const flipped = Buffer.from(value);
        for (const bit of bits) flipped[Math.floor(bit / 8) % flipped.length]! ^= 1 << (bit % 8);
        return { kind: 'bit flips', record: { value: flipped } };
      }),
      // A huge count or length in place of whatever stood at some position of the body.
      fc.tuple(encoded(), fc.nat(), hugeVarint, fc.boolean()).map(([{ value }, at, huge, overwrite]): Case => {
        const position = WIRE_HEADER_BYTES + (at % (value.length - WIRE_HEADER_BYTES));
        const tail = value.subarray(overwrite ? Math.min(value.length, position + huge.length) : position);
        return {
          kind: 'huge length prefix',
          record: { value: Buffer.concat([value.subarray(0, position), huge, tail]) },
        };
      }),
      fc.tuple(encoded(), headers).map(([{ event, value }, headers]): Case => {
        const declared = headers?.['event-type']?.toString();
        return {
          kind: 'valid, any headers',
          record: { value, headers },
          expect: declared === undefined || declared === event.type ? 'decoded' : 'unknown_event_type',
        };
      }),
    );

  function checkClassified(result: DecodeResult): void {
    if (result.ok) {
      assert.deepEqual(eventProblems(result.event), [], 'a decoded event holds its invariants');
      assert.ok(result.schemaVersion === null || Number.isInteger(result.schemaVersion));
    } else {
      assert.ok(POISON_CODES.includes(result.poison.code), `classified: ${result.poison.code}`);
      assert.equal(typeof result.poison.message, 'string');
    }
  }

  it('answers every forged record with an event or a classified poison result, never a throw, within a bound', async (t) => {
    const seen = new Map<string, Map<string, number>>();
    t.diagnostic(`seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
    await fc.assert(
      fc.asyncProperty(cases(), async (c) => {
        const started = performance.now();
        const result = await decoder.decode(c.record);
        const elapsed = performance.now() - started;
        checkClassified(result);
        if (c.expect !== undefined) assert.equal(result.ok ? 'decoded' : result.poison.code, c.expect, c.kind);
        assert.ok(elapsed < DECODE_BOUND_MS, `${c.kind}: decoded in ${Math.round(elapsed)} ms`);
        const outcome = result.ok ? 'decoded' : result.poison.code;
        const byOutcome = seen.get(c.kind) ?? new Map<string, number>();
        seen.set(c.kind, byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1));
      }),
      { seed: SEED, numRuns: 4000 },
    );
    for (const [kind, outcomes] of seen)
      t.diagnostic(`${kind}: ${[...outcomes].map(([o, n]) => `${o} ${n}`).join(', ')}`);
  });

  it('reads back every valid encoding as the event it encodes', async () => {
    await fc.assert(
      fc.asyncProperty(encoded(), async ({ event, version, value }) => {
        assert.deepEqual(await decoder.decode({ value }), {
          ok: true,
          event: asRead(event, version),
          schemaVersion: version ?? (event.type === 'RatingDeleted' ? 1 : 2),
        });
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('decodes a batch of poison and valid records together, each on its own', async () => {
    const records = fc.sample(cases(), { seed: SEED, numRuns: 500 });
    const results = await decoder.decodeAll(records.map((c) => c.record));
    assert.equal(results.length, records.length);
    results.forEach(checkClassified);
  });
});

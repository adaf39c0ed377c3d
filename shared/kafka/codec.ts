import { setTimeout } from 'node:timers/promises';
import { SchemaType, type SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro, { type Type } from 'avsc';
import { EVENT_SCHEMAS, subjectOf } from './schema-catalog.ts';
import type { Topics } from '../config.ts';
import { partitionKey, type CatalogueEvent, type EventType } from '../events/types.ts';
import { HEADERS, MAGIC_BYTE, WIRE_HEADER_BYTES } from './wire.ts';

export interface EncodedEvent {
  topic: string;
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

const REGISTER_ATTEMPTS = 8;

interface Writer {
  id: number;
  version: number;
  topic: string;
  type: Type;
}

/**
 * Writes events as Avro in the Confluent wire format. Every schema version of each event type is
 * registered, oldest first, so the registry's history of a subject is the history of our files
 * and its compatibility check sees each step; events are written with the newest version unless
 * the caller pins an older one (as a writer not yet upgraded would).
 */
export class EventCodec {
  /** The topics this codec's events go to. */
  readonly topics: readonly string[];

  private constructor(private readonly writers: ReadonlyMap<EventType, ReadonlyMap<number, Writer>>) {
    this.topics = [...new Set([...writers.values()].flatMap((versions) => [...versions.values()].map((w) => w.topic)))];
  }

  /** Registers every schema version; fails if the registry refuses one as incompatible. */
  static async forWriting(registry: SchemaRegistry, topics: Topics): Promise<EventCodec> {
    const writers = new Map<EventType, Map<number, Writer>>();
    for (const schema of EVENT_SCHEMAS) {
      const { id } = await registerOnce(registry, schema.definition, subjectOf(schema, topics));
      const versions = writers.get(schema.eventType) ?? new Map<number, Writer>();
      const type = avro.Type.forSchema(JSON.parse(schema.definition) as avro.Schema);
      versions.set(schema.version, { id, version: schema.version, topic: topics[schema.topic], type });
      writers.set(schema.eventType, versions);
    }
    return new EventCodec(writers);
  }

  /**
   * Encodes with the writer schema's own avsc type: the registry client's encode looks the
   * schema up and validates the record a second time, which the bulk endpoint would pay per event.
   */
  encode(event: CatalogueEvent, version?: number): EncodedEvent {
    const versions = this.writers.get(event.type);
    const writer = version === undefined ? [...(versions?.values() ?? [])].at(-1) : versions?.get(version);
    if (!writer)
      throw new Error(`No writer schema registered for ${event.type}${version === undefined ? '' : ` v${version}`}`);
    const { type, envelope, ...fields } = event;
    const record = { envelope: { ...envelope, occurredAt: envelope.occurredAt.getTime() }, ...fields };
    return {
      topic: writer.topic,
      key: partitionKey(event),
      value: framed(writer, record),
      headers: {
        [HEADERS.eventType]: type,
        [HEADERS.schemaVersion]: String(writer.version),
      },
    };
  }
}

/** The Confluent wire format: magic byte, schema id, Avro body. */
function framed(writer: Writer, record: unknown): Buffer {
  const body = writer.type.toBuffer(record);
  const value = Buffer.allocUnsafe(WIRE_HEADER_BYTES + body.length);
  value.writeUInt8(MAGIC_BYTE, 0);
  value.writeInt32BE(writer.id, 1);
  body.copy(value, WIRE_HEADER_BYTES);
  return value;
}

/**
 * Registers a schema under a subject. The registry client sets a new subject's compatibility
 * after registering its first schema, and refuses a subject whose compatibility is not the one
 * it sets. Several instances starting at once meet each other in between: one finds the subject
 * registered without a compatibility yet (Apicurio says NONE), or finds it set as it sets it
 * (409). Both pass within moments, so those two refusals are tried again a few times.
 */
async function registerOnce(registry: SchemaRegistry, definition: string, subject: string): Promise<{ id: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await registry.register({ type: SchemaType.AVRO, schema: definition }, { subject });
    } catch (err) {
      // The client does not export its error classes; their names are stable.
      const concurrent =
        (err as { status?: unknown }).status === 409 ||
        (err as Error).name === 'ConfluentSchemaRegistryCompatibilityError';
      if (!concurrent || attempt === REGISTER_ATTEMPTS) throw err;
      await setTimeout(50 * attempt);
    }
  }
}

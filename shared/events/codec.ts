import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { IHeaders } from 'kafkajs';
import type { Type } from 'avsc';
import { EVENT_SCHEMAS, latestSchemas, subjectOf } from '../../schemas/catalog.ts';
import type { Topics } from '../config.ts';
import { RegistryUnavailableError, UndecodableEventError } from './errors.ts';
import { partitionKey, type CatalogueEvent, type EventType } from './types.ts';
import { assertValidEvent } from './validation.ts';

export const HEADERS = {
  eventType: 'event-type',
  schemaVersion: 'schema-version',
  eventId: 'event-id',
  correlationId: 'correlation-id',
} as const;

export interface EncodedEvent {
  topic: string;
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

const MAGIC_BYTE = 0;
/** Magic byte and a 4-byte big-endian schema id precede the Avro body. */
const WIRE_HEADER_BYTES = 5;
const FULL_NAMES: ReadonlyMap<string, string> = new Map(EVENT_SCHEMAS.map((s) => [s.eventType, s.fullName]));

/** An event as Avro carries it: the domain shape, with time as epoch milliseconds. */
type AvroEvent = Record<string, unknown> & { envelope: Record<string, unknown> & { occurredAt: number } };

interface Writer {
  id: number;
  version: number;
  topic: string;
}

/**
 * Avro in the Confluent wire format, schemas in the registry. Writing registers (or finds) the
 * latest schema of each event type once; reading resolves the writer schema by the id in the
 * message (cached by the registry client), so every version ever written stays readable.
 * Decoding tells poison (PermanentEventError) from a registry outage (RegistryUnavailableError).
 */
export class EventCodec {
  private constructor(
    private readonly registry: SchemaRegistry,
    private readonly writers: ReadonlyMap<EventType, Writer>,
  ) {}

  static connect(registryUrl: string): SchemaRegistry {
    return new SchemaRegistry({ host: registryUrl, retry: { retries: 2 } });
  }

  /** A codec that can decode anything and encode nothing: what projectors need. */
  static forReading(registry: SchemaRegistry): EventCodec {
    return new EventCodec(registry, new Map());
  }

  /** Registers the schemas this process writes; fails if the registry refuses one as incompatible. */
  static async forWriting(registry: SchemaRegistry, topics: Topics): Promise<EventCodec> {
    const writers = new Map<EventType, Writer>();
    for (const schema of latestSchemas()) {
      const { id } = await registry.register(
        { type: SchemaType.AVRO, schema: schema.definition },
        { subject: subjectOf(schema, topics) },
      );
      writers.set(schema.eventType, { id, version: schema.version, topic: topics[schema.topic] });
    }
    return new EventCodec(registry, writers);
  }

  async encode(event: CatalogueEvent): Promise<EncodedEvent> {
    const writer = this.writers.get(event.type);
    if (!writer) throw new Error(`No writer schema registered for ${event.type}`);
    const { type, envelope, ...fields } = event;
    const record = { envelope: { ...envelope, occurredAt: envelope.occurredAt.getTime() }, ...fields };
    return {
      topic: writer.topic,
      key: partitionKey(event),
      value: await this.registry.encode(writer.id, record),
      headers: {
        [HEADERS.eventType]: type,
        [HEADERS.schemaVersion]: String(writer.version),
        [HEADERS.eventId]: envelope.eventId,
        [HEADERS.correlationId]: envelope.correlationId,
      },
    };
  }

  async decode(value: Buffer | null, headers: IHeaders | undefined): Promise<CatalogueEvent> {
    const type = headers?.[HEADERS.eventType]?.toString();
    const expectedName = type === undefined ? undefined : FULL_NAMES.get(type);
    if (type === undefined || expectedName === undefined) {
      throw new UndecodableEventError(`Unknown or missing ${HEADERS.eventType} header: ${String(type)}`);
    }
    if (!value || value.length < WIRE_HEADER_BYTES || value[0] !== MAGIC_BYTE) {
      throw new UndecodableEventError(`${type}: value is not in the Confluent wire format`);
    }
    const writer = await this.writerType(value.readInt32BE(1));
    if (writer.name !== expectedName) {
      throw new UndecodableEventError(`Header says ${type}, but the writer schema is ${String(writer.name)}`);
    }
    let record: AvroEvent;
    try {
      record = writer.fromBuffer(value.subarray(WIRE_HEADER_BYTES)) as AvroEvent;
    } catch (err) {
      throw new UndecodableEventError(`${type}: ${(err as Error).message}`);
    }
    const event = {
      ...record,
      type,
      envelope: { ...record.envelope, occurredAt: new Date(record.envelope.occurredAt) },
    } as CatalogueEvent;
    assertValidEvent(event);
    return event;
  }

  /** The writer schema of an id; an id the registry does not know is permanent, an outage is not. */
  private async writerType(id: number): Promise<Type> {
    try {
      return (await this.registry.getSchema(id)) as unknown as Type;
    } catch (err) {
      if ((err as { status?: number }).status === 404) throw new UndecodableEventError(`Schema id ${id} is not in the registry`);
      throw new RegistryUnavailableError(`Cannot fetch schema ${id}: ${(err as Error).message}`);
    }
  }
}

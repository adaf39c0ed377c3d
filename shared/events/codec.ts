import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { IHeaders } from 'kafkajs';
import { latestSchemas, subjectOf } from '../../schemas/catalog.ts';
import type { Topics } from '../config.ts';
import { partitionKey, type CatalogueEvent, type EventType } from './types.ts';

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

/** A message could not be turned into an event, and never will be: it is poison, not a glitch. */
export class UndecodableEventError extends Error {
  override name = 'UndecodableEventError';
}

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
 * message, so every version ever written stays readable.
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
    if (type !== 'MovieMetadataSet' && type !== 'RatingSubmitted') {
      throw new UndecodableEventError(`Unknown or missing ${HEADERS.eventType} header: ${String(type)}`);
    }
    if (!value) throw new UndecodableEventError('Message has no value');
    let record: AvroEvent;
    try {
      record = (await this.registry.decode(value)) as AvroEvent;
    } catch (err) {
      if (isRegistryUnreachable(err)) throw err;
      throw new UndecodableEventError(`Cannot decode ${type}: ${(err as Error).message}`);
    }
    return {
      ...record,
      type,
      envelope: { ...record.envelope, occurredAt: new Date(record.envelope.occurredAt) },
    } as CatalogueEvent;
  }
}

/** Network failures reaching the registry are transient; anything else about a message is not. */
function isRegistryUnreachable(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EAI_AGAIN';
}

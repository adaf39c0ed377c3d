import type { Resolver, Schema, Type } from 'avsc';
import type { IHeaders } from 'kafkajs';
import { EVENT_SCHEMAS } from './schema-catalog.ts';
import { registryRequest, type RegistryConnection } from '../registry.ts';
import { typeForReading } from './bounded-avro.ts';
import { UnavailableError } from '../errors.ts';
import type { Poison } from './poison.ts';
import { HEADERS, MAGIC_BYTE, WIRE_HEADER_BYTES } from './wire.ts';
import type { CatalogueEvent, EventType } from '../events/types.ts';
import { eventProblems } from '../events/validation.ts';

/** A record that became an event, with the schema version that wrote it (null: not one of ours). */
export interface DecodedEvent {
  ok: true;
  event: CatalogueEvent;
  schemaVersion: number | null;
}

export interface PoisonRecord {
  ok: false;
  poison: Poison;
}

export type DecodeResult = DecodedEvent | PoisonRecord;

export interface RawRecord {
  value: Buffer | null;
  headers?: IHeaders | undefined;
}

/** How to read the bodies one writer schema wrote, or why they can never be read. */
type Writer =
  { ok: true; eventType: EventType; version: number | null; reader: Type; resolver: Resolver } | PoisonRecord;

/** An event as Avro carries it: the domain shape, with time as epoch milliseconds. */
type AvroEvent = Record<string, unknown> & { envelope: Record<string, unknown> & { occurredAt: number } };

const REGISTRY_TIMEOUT_MS = 5000;

/**
 * Reads records in the Confluent wire format into events of the newest schema version: each
 * writer schema (fetched once per id from the registry) is resolved against our newest reader
 * schema of its type, so every version ever written decodes to today's shape, with the fields
 * it lacks at their defaults. Never throws for a bad record: it becomes a PoisonRecord. Only a
 * registry that cannot be asked throws (UnavailableError, the registry), since that is no fault of
 * the record.
 */
export class EventDecoder {
  private readonly readers = new Map<string, { eventType: EventType; type: Type }>();
  private readonly versions = new Map<string, number>();
  private readonly writers = new Map<number, Writer>();
  private readonly pending = new Map<number, Promise<Writer>>();

  constructor(private readonly registry: RegistryConnection) {
    for (const schema of EVENT_SCHEMAS) {
      const type = typeForReading(JSON.parse(schema.definition) as Schema);
      // Later versions overwrite earlier ones: the reader of a type is its newest schema.
      this.readers.set(schema.fullName, { eventType: schema.eventType, type });
      this.versions.set(fingerprint(type), schema.version);
    }
  }

  /** Decodes a batch; looks up each unknown schema id once, however many records carry it. */
  async decodeAll(records: readonly RawRecord[]): Promise<DecodeResult[]> {
    const unknownIds = new Set<number>();
    for (const { value } of records) {
      if (isFramed(value) && !this.writers.has(value.readInt32BE(1))) unknownIds.add(value.readInt32BE(1));
    }
    await Promise.all([...unknownIds].map((id) => this.writerOf(id)));
    return records.map((record) => this.decodeKnown(record));
  }

  async decode(record: RawRecord): Promise<DecodeResult> {
    const [result] = await this.decodeAll([record]);
    return result!;
  }

  private decodeKnown({ value, headers }: RawRecord): DecodeResult {
    if (!isFramed(value)) return poison('not_avro', 'value is not in the Confluent wire format');
    const schemaId = value.readInt32BE(1);
    const writer =
      this.writers.get(schemaId) ?? poison('unknown_schema', `schema id ${schemaId} is not in the registry`);
    if (!writer.ok) return writer;
    const declared = headers?.[HEADERS.eventType]?.toString();
    if (declared !== undefined && declared !== writer.eventType) {
      return poison(
        'unknown_event_type',
        `header ${HEADERS.eventType} says ${declared}, the writer schema is ${writer.eventType}`,
      );
    }
    let record: AvroEvent;
    try {
      record = writer.reader.fromBuffer(value.subarray(WIRE_HEADER_BYTES), writer.resolver) as AvroEvent;
    } catch (err) {
      return poison('undecodable', `${writer.eventType}: ${(err as Error).message}`);
    }
    // Object.assign, not spread: V8 copies avsc's record instances by spread on a slow path that costs more than the decoding.
    const event = Object.assign({ type: writer.eventType }, record, {
      envelope: Object.assign({}, record.envelope, { occurredAt: new Date(record.envelope.occurredAt) }),
    }) as unknown as CatalogueEvent;
    const problems = eventProblems(event);
    if (problems.length > 0) {
      return {
        ok: false,
        poison: {
          code: 'invalid_event',
          message: `${event.type}: ${problems.join('; ')}`,
          eventId: event.envelope.eventId,
        },
      };
    }
    return { ok: true, event, schemaVersion: writer.version ?? headerVersion(headers) };
  }

  /** One registry request per schema id, shared by every caller asking meanwhile. */
  private writerOf(id: number): Promise<Writer> {
    let request = this.pending.get(id);
    if (!request) {
      request = this.fetchWriter(id).finally(() => this.pending.delete(id));
      this.pending.set(id, request);
    }
    return request;
  }

  private async fetchWriter(id: number): Promise<Writer> {
    let response;
    try {
      response = await registryRequest(this.registry, `/schemas/ids/${id}`, { timeoutMs: REGISTRY_TIMEOUT_MS });
    } catch (err) {
      throw new UnavailableError(`Cannot fetch schema ${id}: ${(err as Error).message}`, 1, 'registry');
    }
    // A 404 is not cached: an id missing today can only be a registry restored from an older backup.
    if (response.status === 404) return poison('unknown_schema', `schema id ${id} is not in the registry`);
    if (response.status !== 200)
      throw new UnavailableError(`Cannot fetch schema ${id}: registry answered ${response.status}`, 1, 'registry');
    const writer = this.resolve((JSON.parse(response.body) as { schema: string }).schema);
    this.writers.set(id, writer);
    return writer;
  }

  private resolve(definition: string): Writer {
    let type: Type;
    try {
      type = typeForReading(JSON.parse(definition) as Schema);
    } catch (err) {
      return poison('undecodable', `writer schema does not parse: ${(err as Error).message}`);
    }
    const reader = this.readers.get(type.name ?? '');
    if (!reader) return poison('unknown_event_type', `writer schema ${String(type.name)} is not an event of ours`);
    try {
      return {
        ok: true,
        eventType: reader.eventType,
        version: this.versions.get(fingerprint(type)) ?? null,
        reader: reader.type,
        resolver: reader.type.createResolver(type),
      };
    } catch (err) {
      return poison(
        'undecodable',
        `writer schema of ${reader.eventType} cannot be read as ours: ${(err as Error).message}`,
      );
    }
  }
}

const poison = (code: Poison['code'], message: string): PoisonRecord => ({ ok: false, poison: { code, message } });

const isFramed = (value: Buffer | null): value is Buffer =>
  value !== null && value.length >= WIRE_HEADER_BYTES && value[0] === MAGIC_BYTE;

const fingerprint = (type: Type) => type.fingerprint('sha256').toString('hex');

/** What the writer says of itself, for a writer schema that is not one of our files. */
function headerVersion(headers: IHeaders | undefined): number | null {
  const version = Number(headers?.[HEADERS.schemaVersion]?.toString());
  return Number.isInteger(version) && version > 0 ? version : null;
}

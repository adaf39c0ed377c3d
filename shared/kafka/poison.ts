/**
 * Why a record can never become an event, however often it is read again. The code is stable:
 * it names the error class in dead-letter headers, metrics and tools.
 * - not_avro: the value is not in the Confluent wire format (magic byte, schema id, Avro body);
 * - unknown_schema: the registry does not know the schema id (404);
 * - unknown_event_type: the writer schema or the event-type header names no event of ours;
 * - undecodable: the Avro body does not match its writer schema, or cannot be read as ours;
 * - invalid_event: decoded, but its values break the event's invariants.
 */
export type PoisonCode = 'not_avro' | 'unknown_schema' | 'unknown_event_type' | 'undecodable' | 'invalid_event';

export interface Poison {
  code: PoisonCode;
  message: string;
  /** Known when the record decoded and only its values are wrong. */
  eventId?: string;
}

/**
 * What travels with every event record besides its Avro body: its type and version, for readers
 * that route without decoding. The event id and correlation id are fields of the envelope, not
 * copies in headers, since kafkajs pays for every header of every record (docs/performance.md).
 */
export const HEADERS = {
  eventType: 'event-type',
  schemaVersion: 'schema-version',
} as const;

/** The Confluent wire format: a zero magic byte and a 4-byte big-endian schema id precede the body. */
export const MAGIC_BYTE = 0;
export const WIRE_HEADER_BYTES = 5;

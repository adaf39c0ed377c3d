/** What travels with every event record besides its Avro body. */
export const HEADERS = {
  eventType: 'event-type',
  schemaVersion: 'schema-version',
  eventId: 'event-id',
  correlationId: 'correlation-id',
} as const;

/** The Confluent wire format: a zero magic byte and a 4-byte big-endian schema id precede the body. */
export const MAGIC_BYTE = 0;
export const WIRE_HEADER_BYTES = 5;

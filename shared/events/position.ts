/** Where an event landed in the log. */
export interface LogPosition {
  topic: string;
  partition: number;
  offset: number;
}

/**
 * The consistency token handed to clients: an opaque encoding of a log position, which a query
 * can wait for. Opaque so its shape may change without breaking clients.
 */
export function encodeConsistencyToken(position: LogPosition): string {
  return Buffer.from(`${position.topic}:${position.partition}:${position.offset}`, 'utf8').toString('base64url');
}

export function decodeConsistencyToken(token: string): LogPosition | undefined {
  const match = /^(.+):(\d{1,6}):(\d{1,18})$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!match) return undefined;
  const [, topic, partition, offset] = match;
  return { topic: topic!, partition: Number(partition), offset: Number(offset) };
}

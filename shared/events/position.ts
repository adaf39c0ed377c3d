/** Where an event landed in the log. */
export interface LogPosition {
  topic: string;
  partition: number;
  offset: number;
}

/**
 * The consistency token handed to clients: an opaque encoding of the log positions a command
 * wrote, the highest per partition, which a query can wait for. Opaque so its shape may change
 * without breaking clients.
 */
export function encodeConsistencyToken(positions: readonly LogPosition[]): string {
  const highest = new Map<string, LogPosition>();
  for (const p of positions) {
    const key = `${p.topic}:${p.partition}`;
    if ((highest.get(key)?.offset ?? -1) < p.offset) highest.set(key, p);
  }
  return Buffer.from(
    [...highest.values()].map((p) => `${p.topic}:${p.partition}:${p.offset}`).join('\n'),
    'utf8',
  ).toString('base64url');
}

const POSITION = /^([^\n:]+):(\d{1,6}):(\d{1,18})$/;

/** The positions of a token, or undefined when it is not one of ours. */
export function decodeConsistencyToken(token: string): LogPosition[] | undefined {
  const lines = Buffer.from(token, 'base64url').toString('utf8').split('\n');
  const positions: LogPosition[] = [];
  for (const line of lines) {
    const match = POSITION.exec(line);
    if (!match) return undefined;
    const [, topic, partition, offset] = match;
    positions.push({ topic: topic!, partition: Number(partition), offset: Number(offset) });
  }
  return positions;
}

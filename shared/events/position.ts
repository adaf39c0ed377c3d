/**
 * The Postgres channel on which a projection's transaction announces, as it commits, that its
 * positions moved: readers waiting for a position learn it at once instead of at their next poll.
 * The payload is a ProgressAnnouncement as JSON, or empty where the sender does not say what
 * moved (a rebuild's swap): then a reader must read the offsets itself.
 */
export const PROGRESS_CHANNEL = 'projection_progress';

/** What one projection's transaction stored as its next offsets on one topic. */
export interface ProgressAnnouncement {
  schema: string;
  /** The oid of the offsets table written, which a rebuild's swap changes under the same schema name. */
  table: string;
  topic: string;
  /** [partition, next offset] pairs. */
  offsets: Array<[number, number]>;
}

const isOffsetPair = (pair: unknown): pair is [number, number] =>
  Array.isArray(pair) && pair.length === 2 && pair.every((n) => Number.isSafeInteger(n) && (n as number) >= 0);

/** The announcement a payload carries; undefined for an empty payload or one not in that shape. */
export function parseProgressAnnouncement(payload: string): ProgressAnnouncement | undefined {
  if (payload === '') return undefined;
  try {
    const { schema, table, topic, offsets } = JSON.parse(payload) as Partial<ProgressAnnouncement>;
    if (
      typeof schema !== 'string' ||
      typeof table !== 'string' ||
      typeof topic !== 'string' ||
      !Array.isArray(offsets) ||
      !offsets.every(isOffsetPair)
    )
      return undefined;
    return { schema, table, topic, offsets };
  } catch {
    return undefined;
  }
}

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

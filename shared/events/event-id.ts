import { createHash, randomUUID } from 'node:crypto';

/**
 * A new event id: a UUID version 7 (RFC 9562), whose first 48 bits are the Unix time in
 * milliseconds. Ids minted later sort later, so the projections' unique index on event ids
 * grows at its right edge instead of at random pages, which a random (version 4) id would cost
 * on every insert. The random bits come from `randomUUID`, which draws on a cached entropy pool
 * rather than asking the system for 16 bytes per id.
 */
export function newEventId(now: number = Date.now()): string {
  const random = randomUUID();
  const time = now.toString(16).padStart(12, '0');
  // Keep the random UUID's variant and its random bits; replace the time and the version.
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15, 18)}-${random.slice(19)}`;
}

/**
 * The event id of the `index`-th event of an idempotent command: a UUID version 7 whose time is
 * the command's first acceptance and whose remaining bits are a hash of `seed` (who sent which
 * key) and `index`. A retry of the command derives the same ids, so the projections' eventId
 * dedup skips whatever the first attempt already wrote.
 */
export function derivedEventId(seed: string, acceptedAt: number, index: number): string {
  const hash = createHash('sha256').update(seed).update('\u0000').update(String(acceptedAt)).update('\u0000').update(String(index)).digest('hex');
  const time = acceptedAt.toString(16).padStart(12, '0');
  // RFC 9562 variant: the top two bits of the 17th hex digit are 10.
  const variant = ((parseInt(hash[3]!, 16) & 0x3) | 0x8).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${hash.slice(0, 3)}-${variant}${hash.slice(4, 7)}-${hash.slice(7, 19)}`;
}

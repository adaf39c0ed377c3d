import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

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
  const hash = createHash('sha256')
    .update(seed)
    .update('\u0000')
    .update(String(acceptedAt))
    .update('\u0000')
    .update(String(index))
    .digest('hex');
  const time = acceptedAt.toString(16).padStart(12, '0');
  // RFC 9562 variant: the top two bits of the 17th hex digit are 10.
  const variant = ((parseInt(hash[3]!, 16) & 0x3) | 0x8).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${hash.slice(0, 3)}-${variant}${hash.slice(4, 7)}-${hash.slice(7, 19)}`;
}

const SEAL_HEX = 8;
const LOWERCASE_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Event ids the command API vouches for: the last 32 bits of an id become an HMAC of the rest
 * under a secret the command and query APIs share. The query API can then tell an id this
 * system minted and answered (its command is pending until projected) from one nobody accepted
 * (404), without a write per command. Ids stay UUIDv7: time first, version and variant intact.
 */
export function createEventIdSeal(secret: string) {
  const macOf = (unsealed: string) => createHmac('sha256', secret).update(unsealed).digest('hex').slice(0, SEAL_HEX);
  return {
    seal: (id: string): string => {
      const unsealed = id.slice(0, -SEAL_HEX);
      return `${unsealed}${macOf(unsealed)}`;
    },
    verifies: (id: string): boolean =>
      LOWERCASE_UUID.test(id) &&
      timingSafeEqual(Buffer.from(id.slice(-SEAL_HEX)), Buffer.from(macOf(id.slice(0, -SEAL_HEX)))),
  };
}

export type EventIdSeal = ReturnType<typeof createEventIdSeal>;

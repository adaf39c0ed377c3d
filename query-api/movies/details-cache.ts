import type { MovieDetailsRead } from './movie-details-store.ts';

interface Entry {
  generation: number;
  read: MovieDetailsRead | undefined;
}

/**
 * Movie details as last read, each tagged with the progress generation at which its read began.
 * An entry is served only while the generation has not moved since: no projection has committed
 * anything since before the read began, so the row is still what the read returned. Why a read
 * with a consistency token can never get a stale entry: the token's wait ends at a snapshot of
 * the offsets that shows its position applied (a read of them, or the announcement Postgres
 * delivers once the transaction that stored them has committed), and taking that snapshot moved
 * the generation first; an entry of the current generation was read after it, so after the
 * token's transaction had committed. A read without a token may see an answer as old as the
 * time an announcement takes to arrive, which is the eventual consistency it asked for.
 */
export function createDetailsCache(generation: () => number, maxEntries: number) {
  const entries = new Map<string, Entry>();
  return {
    async get(
      movieId: string,
      read: () => Promise<MovieDetailsRead | undefined>,
    ): Promise<MovieDetailsRead | undefined> {
      const current = generation();
      const cached = entries.get(movieId);
      if (cached && cached.generation === current) return cached.read;
      const fresh = await read();
      // Entries of older generations are never served again; drop them all rather than one by one.
      if (entries.size >= maxEntries) entries.clear();
      entries.set(movieId, { generation: current, read: fresh });
      return fresh;
    },
  };
}

import { listen, type Listener } from '../shared/db/listener.ts';
import type { Pool } from '../shared/db/pool.ts';
import { PROGRESS_CHANNEL, type LogPosition } from '../shared/events/position.ts';
import type { Logger } from '../shared/logger.ts';

/** How often the shared poll reads the projections' offsets while no announcement can wake it. */
const POLL_MS = 5;
/** How often it reads them while announcements wake it: only offsets moved by hand, which announce nothing, wait this long. */
const LISTENING_POLL_MS = 1000;
/** How long the listener waits for a connection, and at most between two attempts. */
const LISTEN_TIMEOUTS = { connectTimeoutMs: 1000, maxBackoffMs: 2000 };

interface Waiter {
  positions: readonly LogPosition[];
  resolve(applied: boolean): void;
  timer: NodeJS.Timeout;
}

/** Each projection's next offset per partition, as `topic/partition`. */
type Offsets = ReadonlyMap<string, number>;

const applied = (offsets: Offsets, positions: readonly LogPosition[]) => positions.every((p) => (offsets.get(`${p.topic}/${p.partition}`) ?? 0) > p.offset);

const sameOffsets = (a: Offsets, b: Offsets) => a.size === b.size && [...a].every(([key, offset]) => b.get(key) === offset);

/**
 * Projection progress: one reader per process of every projection's offsets, for read-your-writes
 * and for the details cache. Each projector transaction that moves offsets announces it on
 * PROGRESS_CHANNEL as it commits, and the announcement wakes the reader at once; a slow poll stays
 * on for writes that announce nothing (an operator's hand), and a fast one takes over while the
 * listener has no connection. Offsets only grow, so a position the last snapshot shows applied is
 * applied: such a request does not wait at all. `generation` moves whenever any offset has moved
 * since the read before, that is whenever some read model may have changed.
 */
export function createProgressWatcher(pool: Pool, databaseUrl: string, logger: Logger) {
  let offsets: Offsets = new Map();
  let tables = '';
  let generation = 0;
  const waiters = new Set<Waiter>();
  let running: Promise<void> | undefined;
  let stopping = false;
  let listener: Listener | undefined;
  /** Set by a wake-up, so that one arriving while the offsets are being read is not lost. */
  let woken = false;
  let endNap: (() => void) | undefined;

  function wake(): void {
    woken = true;
    endNap?.();
  }

  function nap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        endNap = undefined;
        resolve();
      }
      endNap = done;
    });
  }

  /**
   * The offsets, and which tables hold them: a rebuild swaps in another schema's tables, which
   * may hold the same offsets and yet another read model, so that too counts as movement.
   */
  async function readOffsets(): Promise<{ offsets: Offsets; tables: string }> {
    // Each topic is read by one projection; were it read by several, the slowest would count.
    const { rows } = await pool.query<{ topic: string; partition: number; next_offset: number; tables: string }>({
      name: 'projection-progress',
      text: `SELECT topic, partition, min(next_offset)::bigint AS next_offset, string_agg(tableoid::text, ',' ORDER BY tableoid) AS tables FROM (
               SELECT tableoid, topic, partition, next_offset FROM movie_details.projection_offsets
               UNION ALL SELECT tableoid, topic, partition, next_offset FROM ratings.projection_offsets) o
             GROUP BY topic, partition ORDER BY topic, partition`,
    });
    return { offsets: new Map(rows.map((r) => [`${r.topic}/${r.partition}`, r.next_offset])), tables: rows.map((r) => r.tables).join(';') };
  }

  async function pollOnce(): Promise<void> {
    try {
      const next = await readOffsets();
      if (!sameOffsets(offsets, next.offsets) || tables !== next.tables) generation += 1;
      offsets = next.offsets;
      tables = next.tables;
    } catch (err) {
      // Unknown progress counts as movement: nothing read before it may be served from a cache.
      generation += 1;
      logger.warn({ err }, 'projection progress unreadable');
    }
    for (const waiter of waiters) {
      if (applied(offsets, waiter.positions)) settle(waiter, true);
    }
  }

  function settle(waiter: Waiter, result: boolean): void {
    clearTimeout(waiter.timer);
    waiters.delete(waiter);
    waiter.resolve(result);
  }

  return {
    /** Listens and polls until `stop`; the first read has happened when this resolves. */
    async start(): Promise<void> {
      if (running) return;
      stopping = false;
      listener = listen(databaseUrl, PROGRESS_CHANNEL, wake, logger, LISTEN_TIMEOUTS);
      await pollOnce();
      running = (async () => {
        while (!stopping) {
          if (!woken) await nap(listener?.listening ? LISTENING_POLL_MS : POLL_MS);
          woken = false;
          if (!stopping) await pollOnce();
        }
      })();
    },
    async stop(): Promise<void> {
      stopping = true;
      endNap?.();
      await running;
      running = undefined;
      await listener?.close();
      listener = undefined;
      for (const waiter of waiters) settle(waiter, false);
    },
    /** Moves whenever the read models may have changed (or progress could not be read). */
    get generation() {
      return generation;
    },
    /** Resolves true once every position is applied, false when `timeoutMs` passes first. */
    waitFor(positions: readonly LogPosition[], timeoutMs: number): Promise<boolean> {
      if (applied(offsets, positions)) return Promise.resolve(true);
      return new Promise((resolve) => {
        const waiter: Waiter = { positions, resolve, timer: setTimeout(() => settle(waiter, false), timeoutMs) };
        waiters.add(waiter);
      });
    },
  };
}

export type ProgressWatcher = ReturnType<typeof createProgressWatcher>;

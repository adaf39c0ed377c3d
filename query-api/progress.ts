import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from '../shared/db/pool.ts';
import type { LogPosition } from '../shared/events/position.ts';
import type { Logger } from '../shared/logger.ts';

export interface ProgressOptions {
  /** How often the one shared poll reads the projections' offsets. */
  pollIntervalMs: number;
}

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
 * Projection progress: one poll per process of every projection's offsets, for read-your-writes
 * and for the details cache. Offsets only grow, so a position the last snapshot shows applied is
 * applied: such a request does not wait at all. `generation` moves whenever any offset has moved
 * since the poll before, that is whenever some read model may have changed.
 */
export function createProgressWatcher(pool: Pool, logger: Logger, options: ProgressOptions) {
  let offsets: Offsets = new Map();
  let tables = '';
  let generation = 0;
  const waiters = new Set<Waiter>();
  let running: Promise<void> | undefined;
  let stopping = false;

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
    /** Polls until `stop`; the first poll has happened when this resolves. */
    async start(): Promise<void> {
      if (running) return;
      stopping = false;
      await pollOnce();
      running = (async () => {
        while (!stopping) {
          await sleep(options.pollIntervalMs);
          if (!stopping) await pollOnce();
        }
      })();
    },
    async stop(): Promise<void> {
      stopping = true;
      await running;
      running = undefined;
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

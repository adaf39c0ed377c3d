import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from '../shared/db/pool.ts';
import type { LogPosition } from '../shared/events/position.ts';
import type { Logger } from '../shared/logger.ts';

export interface ProgressOptions {
  /** How often the one shared poll reads the projections' offsets while someone waits. */
  pollIntervalMs: number;
}

interface Waiter {
  positions: readonly LogPosition[];
  resolve(applied: boolean): void;
  timer: NodeJS.Timeout;
}

/** Each projection's next offset per partition, as `topic/partition`. */
type Offsets = Map<string, number>;

const applied = (offsets: Offsets, positions: readonly LogPosition[]) => positions.every((p) => (offsets.get(`${p.topic}/${p.partition}`) ?? 0) > p.offset);

/**
 * Projection progress, for read-your-writes: one poll per process of every projection's
 * offsets, running only while a request waits, however many wait. Offsets only grow, so a
 * position the last snapshot shows applied is applied: such a request does not wait at all.
 */
export function createProgressWatcher(pool: Pool, logger: Logger, options: ProgressOptions) {
  let offsets: Offsets = new Map();
  const waiters = new Set<Waiter>();
  let polling = false;

  async function readOffsets(): Promise<Offsets> {
    // Each topic is read by one projection; were it read by several, the slowest would count.
    const { rows } = await pool.query<{ topic: string; partition: number; next_offset: number }>({
      name: 'projection-progress',
      text: `SELECT topic, partition, min(next_offset)::bigint AS next_offset FROM (
               SELECT topic, partition, next_offset FROM movie_details.projection_offsets
               UNION ALL SELECT topic, partition, next_offset FROM ratings.projection_offsets) o
             GROUP BY topic, partition`,
    });
    return new Map(rows.map((r) => [`${r.topic}/${r.partition}`, r.next_offset]));
  }

  async function poll(): Promise<void> {
    polling = true;
    try {
      while (waiters.size > 0) {
        try {
          offsets = await readOffsets();
        } catch (err) {
          // Waiters are answered stale at their bound; the next round tries again.
          logger.warn({ err }, 'projection progress unreadable');
        }
        for (const waiter of waiters) {
          if (applied(offsets, waiter.positions)) settle(waiter, true);
        }
        if (waiters.size > 0) await sleep(options.pollIntervalMs);
      }
    } finally {
      polling = false;
    }
  }

  function settle(waiter: Waiter, result: boolean): void {
    clearTimeout(waiter.timer);
    waiters.delete(waiter);
    waiter.resolve(result);
  }

  return {
    /** Resolves true once every position is applied, false when `timeoutMs` passes first. */
    waitFor(positions: readonly LogPosition[], timeoutMs: number): Promise<boolean> {
      if (applied(offsets, positions)) return Promise.resolve(true);
      return new Promise((resolve) => {
        const waiter: Waiter = { positions, resolve, timer: setTimeout(() => settle(waiter, false), timeoutMs) };
        waiters.add(waiter);
        if (!polling) void poll();
      });
    },
  };
}

export type ProgressWatcher = ReturnType<typeof createProgressWatcher>;

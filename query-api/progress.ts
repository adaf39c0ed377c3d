import { listen, type Listener } from '../shared/db/listener.ts';
import type { Pool } from '../shared/db/pool.ts';
import type { LogPosition } from '../shared/events/position.ts';
import {
  parseProgressAnnouncement,
  PROGRESS_CHANNEL,
  SCHEMAS,
  type ProgressAnnouncement,
} from '../shared/read-models.ts';
import type { Logger } from '../shared/logger.ts';

/** How often the shared poll reads the projections' offsets while no announcement can wake it. */
const POLL_MS = 5;
/** How often it reads them while announcements wake it: only offsets moved by hand, which announce nothing, wait this long. */
const LISTENING_POLL_MS = 1000;
/** How long the listener waits for a connection, and at most between two attempts. */
const LISTEN_TIMEOUTS = { connectTimeoutMs: 1000, maxBackoffMs: 2000 };
/** How long, after an announcement, a reader of a standby keeps reading the offsets every POLL_MS to see it replayed. */
const STANDBY_CHASE_MS = 250;
/** The projections' schemas that reads are served from; a rebuild's shadow announces too, and is not one of them. */
const SERVED_SCHEMAS: string[] = [SCHEMAS.movieDetails, SCHEMAS.ratings];

interface Waiter {
  positions: readonly LogPosition[];
  resolve(applied: boolean): void;
  timer: NodeJS.Timeout;
}

/** Next offsets by `topic/partition`. */
type Offsets = Map<string, number>;
/** Each served schema's stored next offsets. */
type Stored = Map<string, Offsets>;

const keyOf = (topic: string, partition: number) => `${topic}/${partition}`;

const applied = (offsets: Offsets, positions: readonly LogPosition[]) =>
  positions.every((p) => (offsets.get(keyOf(p.topic, p.partition)) ?? 0) > p.offset);

const sameEntries = <V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>) =>
  a.size === b.size && [...a].every(([key, value]) => b.get(key) === value);

/** Per partition, the offset every schema that stores one for it has reached: were a topic read by several projections, the slowest counts. */
function servedOffsets(stored: Stored): Offsets {
  const served: Offsets = new Map();
  for (const offsets of stored.values()) {
    for (const [key, next] of offsets) served.set(key, Math.min(next, served.get(key) ?? next));
  }
  return served;
}

/** Raises `stored` to an announcement's offsets; offsets only grow, so an older announcement changes nothing. */
function raise(stored: Stored, { schema, topic, offsets }: ProgressAnnouncement): void {
  let own = stored.get(schema);
  if (!own) stored.set(schema, (own = new Map<string, number>()));
  for (const [partition, next] of offsets) {
    const key = keyOf(topic, partition);
    own.set(key, Math.max(next, own.get(key) ?? 0));
  }
}

/**
 * Projection progress: one reader per process of every projection's offsets, for read-your-writes
 * and for the details cache. Each projector transaction that moves offsets announces them on
 * PROGRESS_CHANNEL as it commits, and the announcement itself moves them here: no query, and no
 * wait for a pooled connection. An announcement that does not say what moved (a rebuild's swap),
 * and a slow poll for offsets moved by hand, read them from Postgres; a fast poll takes over while
 * the listener has no connection. Offsets only grow, so a position the last snapshot shows applied
 * is applied: such a request does not wait at all. `generation` moves whenever any offset has
 * moved since the snapshot before, that is whenever some read model may have changed.
 *
 * Reading from a hot standby (`pool` on the standby, `databaseUrl` the primary's, where LISTEN
 * runs), an announcement only wakes the reader: offsets count once the standby's own tables show
 * them, since they commit with the read models they stand for. While a request waits, the reader
 * reads them again every few milliseconds, until the standby has replayed that commit.
 */
export function createProgressWatcher(
  pool: Pool,
  databaseUrl: string,
  logger: Logger,
  options: { standby?: boolean; listeningPollMs?: number } = {},
) {
  const standby = options.standby ?? false;
  const listeningPollMs = options.listeningPollMs ?? LISTENING_POLL_MS;
  let stored: Stored = new Map();
  let offsets: Offsets = new Map();
  /** The oid of each served schema's offsets table, as last read. */
  let tables: ReadonlyMap<string, string> = new Map();
  let generation = 0;
  const waiters = new Set<Waiter>();
  let running: Promise<void> | undefined;
  let stopping = false;
  let listener: Listener | undefined;
  /** Set by a wake-up, so that one arriving while the offsets are being read is not lost. */
  let woken = false;
  let endNap: (() => void) | undefined;
  /** Announcements heard while a read of the offsets is in flight: that read may not show them yet. */
  let heardDuringRead: ProgressAnnouncement[] | undefined;
  /** Until when a reader of a standby reads the offsets every POLL_MS: an announced commit may not be replayed yet. */
  let chaseUntil = 0;

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

  /** Runs with every notification's payload, and with none when listening stops or starts. */
  function heard(payload?: string): void {
    if (standby) chaseUntil = Date.now() + STANDBY_CHASE_MS;
    const announcement = payload === undefined || standby ? undefined : parseProgressAnnouncement(payload);
    if (!announcement) return wake();
    if (!SERVED_SCHEMAS.includes(announcement.schema)) return;
    // Written to other tables than those last read (swapped in or out since): read what is served now.
    if (tables.get(announcement.schema) !== announcement.table) return wake();
    heardDuringRead?.push(announcement);
    raise(stored, announcement);
    adopt(stored, tables);
  }

  /**
   * The offsets, and which tables hold them: a rebuild swaps in another schema's tables, which
   * may hold the same offsets and yet another read model, so that too counts as movement.
   */
  async function readOffsets(): Promise<{ stored: Stored; tables: Map<string, string> }> {
    const { rows } = await pool.query<{
      schema: string;
      table: string;
      topic: string;
      partition: number;
      next_offset: number;
    }>({
      name: 'projection-progress',
      text: SERVED_SCHEMAS.map(
        (schema) =>
          `SELECT '${schema}' AS schema, tableoid::text AS table, topic, partition, next_offset FROM ${schema}.projection_offsets`,
      ).join(' UNION ALL '),
    });
    const read: Stored = new Map();
    for (const r of rows)
      raise(read, { schema: r.schema, table: r.table, topic: r.topic, offsets: [[r.partition, r.next_offset]] });
    return { stored: read, tables: new Map(rows.map((r) => [r.schema, r.table])) };
  }

  /** Takes `next` as the stored offsets, moving the generation if anything moved, and releases the waiters it satisfies. */
  function adopt(next: Stored, nextTables: ReadonlyMap<string, string>): void {
    const served = servedOffsets(next);
    if (!sameEntries(offsets, served) || !sameEntries(tables, nextTables)) generation += 1;
    stored = next;
    offsets = served;
    tables = nextTables;
    for (const waiter of waiters) {
      if (applied(offsets, waiter.positions)) settle(waiter, true);
    }
  }

  async function pollOnce(): Promise<void> {
    const heardMeanwhile: ProgressAnnouncement[] = [];
    heardDuringRead = heardMeanwhile;
    try {
      const next = await readOffsets();
      for (const announcement of heardMeanwhile) raise(next.stored, announcement);
      adopt(next.stored, next.tables);
    } catch (err) {
      // Unknown progress counts as movement: nothing read before it may be served from a cache.
      generation += 1;
      logger.warn({ err }, 'projection progress unreadable');
    } finally {
      heardDuringRead = undefined;
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
      listener = listen(databaseUrl, PROGRESS_CHANNEL, heard, logger, LISTEN_TIMEOUTS);
      await pollOnce();
      running = (async () => {
        while (!stopping) {
          const behind = standby && (waiters.size > 0 || Date.now() < chaseUntil);
          if (!woken) await nap(listener?.listening && !behind ? listeningPollMs : POLL_MS);
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

import { setTimeout as sleep } from 'node:timers/promises';

const POLL_MS = 100;
const PROGRESS_EVERY_MS = 5_000;
/** Nothing moving for this long means the run is stuck, not slow. */
const STALL_MS = 120_000;

export interface Watched {
  /** How the progress lines and errors name the run: `(b)`, `(d)`. */
  label: string;
  target: number;
  /** When the run started, for the progress lines. */
  started: number;
  /** How far it is: applied events, committed offsets. */
  reached: () => Promise<number>;
  /** A reason to stop waiting (the process exited), if there is one. */
  trouble: () => Error | undefined;
}

/** Polls a run until it reaches its target, printing progress every 5 s; fails on trouble or a long stall. */
export async function waitUntilReached({ label, target, started, reached, trouble }: Watched): Promise<void> {
  let last = -1;
  let lastMove = performance.now();
  let lastReport = performance.now();
  for (;;) {
    const problem = trouble();
    if (problem) throw problem;
    const done = await reached();
    if (done >= target) return;
    const now = performance.now();
    if (done !== last) [last, lastMove] = [done, now];
    else if (now - lastMove > STALL_MS) throw new Error(`${label} stalled at ${done} of ${target}`);
    if (now - lastReport >= PROGRESS_EVERY_MS) {
      lastReport = now;
      const count = (n: number) => n.toLocaleString('en-US');
      console.log(`  ${label} ${count(done)} / ${count(target)} after ${((now - started) / 1000).toFixed(1)} s`);
    }
    await sleep(POLL_MS);
  }
}

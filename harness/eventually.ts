import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Retries `probe` until it stops throwing, or rethrows its last error at the deadline.
 * Tests wait for asynchronous effects this way, never with fixed sleeps.
 */
export async function eventually<T>(probe: () => Promise<T>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await probe();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(intervalMs);
    }
  }
}

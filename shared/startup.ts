import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './logger.ts';

const FIRST_PAUSE_MS = 500;
const LONGEST_PAUSE_MS = 10_000;

/**
 * Runs a startup step that needs a dependency (migrating, fetching schemas, connecting) until it
 * succeeds, pausing longer after each failure (0.5 s doubling up to 10 s) and logging each one.
 * A dependency that is down or slow while a service starts delays the service, never ends it: a
 * supervisor restarting it would only add load to what is already struggling. Whatever the
 * failure, it is the dependency's to fix (a refused password too), so none is final.
 */
export async function whenAvailable<T>(dependency: string, step: () => Promise<T>, logger: Logger): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      const pauseMs = Math.min(LONGEST_PAUSE_MS, FIRST_PAUSE_MS * 2 ** (attempt - 1));
      logger.warn({ err, dependency, attempt, nextInMs: pauseMs }, `waiting for ${dependency} to start`);
      await sleep(pauseMs);
    }
  }
}

/**
 * Delay before retry `attempt` (1, 2, ...): exponential from `baseMs`, capped at `capMs`, with
 * full jitter so instances retrying against the same dependency spread out.
 */
export function backoffMs(attempt: number, random: () => number = Math.random, baseMs = 200, capMs = 10_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

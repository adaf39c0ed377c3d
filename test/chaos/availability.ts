import type { FaultWindow } from './cluster-faults.ts';
import { finalAnswer, type Answer, type CommandRecord } from './load.ts';

/** When the load ran with no fault in progress: before the first fault, and after the last. */
export type CalmWindows = ReadonlyArray<readonly [from: number, to: number]>;

export const CALM_ACCEPTANCE_BAR = 0.9;

/**
 * The share of valid commands sent while nothing was broken that got a 202: at least 90%, or the
 * system is not serving. A refused command (bad value, wrong role) and a stale If-Match (412) are
 * right to be refused, and do not count.
 */
export function calmAcceptance(
  records: readonly CommandRecord[],
  calm: CalmWindows,
): { check: string; found: string; ok: boolean } {
  const considered = records.filter(
    (r) =>
      r.kind !== 'refused' && finalAnswer(r) !== 412 && calm.some(([from, to]) => r.sentAt >= from && r.sentAt < to),
  );
  const accepted = considered.filter((r) => finalAnswer(r) === 202).length;
  const share = considered.length === 0 ? 0 : accepted / considered.length;
  return {
    check: `valid commands sent in calm phases that got 202 (at least ${CALM_ACCEPTANCE_BAR * 100}%)`,
    found: `${accepted} of ${considered.length} (${(share * 100).toFixed(1)}%)`,
    ok: considered.length > 0 && share >= CALM_ACCEPTANCE_BAR,
  };
}

/** Every answer of the run, in the order they came. */
function answersInTime(records: readonly CommandRecord[]): Array<{ answer: Answer; at: number }> {
  return records
    .flatMap((r) => r.answers.map((answer, i) => ({ answer, at: r.answeredAt[i]! })))
    .sort((a, b) => a.at - b.at);
}

/**
 * What the load saw of one outage: the 503s answered from its start until 15 s after the
 * brokers came back, the longest time without any 202 from its start until the first 202 after
 * it, and the 202s answered while fewer than min.insync.replicas brokers were up (after a second
 * for answers already on their way), which must be none.
 */
export function outageFigures(
  records: readonly CommandRecord[],
  window: FaultWindow,
): { unavailable: number; longestWithout202Ms: number; acceptedBelowMinIsr: number } {
  const answers = answersInTime(records);
  const unavailable = answers.filter(
    (a) => a.answer === 503 && a.at >= window.from && a.at <= window.to + 15_000,
  ).length;
  const accepted = answers.filter((a) => a.answer === 202).map((a) => a.at);
  const firstAfter = accepted.find((at) => at >= window.to) ?? answers.at(-1)?.at ?? window.to;
  let longest = 0;
  let last = window.from;
  for (const at of [...accepted.filter((t) => t > window.from && t < firstAfter), firstAfter]) {
    longest = Math.max(longest, at - last);
    last = at;
  }
  const acceptedBelowMinIsr = window.belowMinIsr
    ? accepted.filter((at) => at > window.from + 1000 && at < window.to).length
    : 0;
  return { unavailable, longestWithout202Ms: longest, acceptedBelowMinIsr };
}

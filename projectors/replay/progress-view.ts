import type { RebuildProgress, RebuildSummary } from './rebuild.ts';

const whole = (n: number) => Math.round(n).toLocaleString('en-US');

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
}

function bar(fraction: number, width: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

interface Figures {
  applied: number;
  end: number;
  rate: number;
  etaSeconds: number;
}

/** Events applied and to go, the rate since the rebuild (re)started, and the time left at that rate. */
export function figuresOf(progress: RebuildProgress): Figures {
  const applied = progress.partitions.reduce((sum, p) => sum + p.applied, 0);
  const end = progress.partitions.reduce((sum, p) => sum + Math.max(p.end, p.applied), 0);
  const rate = progress.elapsedMs > 0 ? ((applied - progress.startedFrom) * 1000) / progress.elapsedMs : 0;
  return { applied, end, rate, etaSeconds: rate > 0 ? (end - applied) / rate : Number.POSITIVE_INFINITY };
}

const events = (n: number) => `${whole(n)} event${n === 1 ? '' : 's'}`;

/** One line, for logs and pipes. */
export function progressLine(progress: RebuildProgress): string {
  if (progress.partitions.length === 0) return `${progress.projection}: ${progress.phase}`;
  const f = figuresOf(progress);
  const percent = f.end > 0 ? ((100 * f.applied) / f.end).toFixed(1) : '100.0';
  return `${progress.projection}: ${progress.phase}, ${whole(f.applied)} / ${events(f.end)} (${percent}%), ${whole(f.rate)} events/s, ETA ${duration(f.etaSeconds)}`;
}

/** A block for a terminal, redrawn in place: the whole, then a bar per partition. */
export function progressBlock(progress: RebuildProgress, width = 30): string[] {
  if (progress.partitions.length === 0) return [progressLine(progress)];
  const f = figuresOf(progress);
  const lines = [`${bar(f.end > 0 ? f.applied / f.end : 1, width)} ${progressLine(progress)}`];
  for (const p of progress.partitions) {
    const end = Math.max(p.end, p.applied);
    lines.push(
      `  partition ${String(p.partition).padStart(2)} ${bar(end > 0 ? p.applied / end : 1, width)} ${whole(p.applied)} / ${whole(end)}`,
    );
  }
  return lines;
}

export function summaryLines(summary: RebuildSummary): string[] {
  const rate = summary.seconds > 0 ? summary.events / summary.seconds : 0;
  return [
    `${summary.projection}: rebuilt ${events(summary.events)} in ${summary.seconds.toFixed(1)} s (${whole(rate)} events/s)` +
      (summary.resumedFrom > 0 ? `, resuming a rebuild that had applied ${whole(summary.resumedFrom)}` : ''),
    `  swapped in: schema ${summary.live} now holds the rebuilt tables; the old ones ${summary.dropped ? 'were dropped' : `are kept in schema ${summary.old}`}`,
  ];
}

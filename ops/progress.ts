/**
 * Following a running sync from the CLI: events per second over a sliding window, and where the run
 * is in the change-time order.
 *
 * No ETA: a run reads rows ordered by change timestamp from the watermark up to `until` (now minus
 * the settle delay), but where the rows end inside that window, and how many there are, is unknown
 * without a COUNT over the range, which needs a reader method and one more warehouse query per run
 * (activities are not in this module's reach). A share of the change-time window is no stand-in: a
 * first run over history whose newest row is a month old shows 30% while 95% of the rows are done.
 * The line therefore shows the change timestamp reached and the upper bound instead.
 */
import type { RunProgress } from '../workflows/index.ts';

/** Epoch ms of a canonical timestamp literal (`2024-05-01T10:00:00.000000[Z]` or `2024-05-01`), read as UTC, or NaN. */
export function literalMs(ts: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}:\d{2})(\.\d{1,3})?\d*)?Z?$/.exec(ts);
  if (!m) return NaN;
  return Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}${m[3] ?? ''}Z`);
}

/** A sample of a run's progress at a local time (ms). */
export interface ProgressSample {
  at: number;
  progress: RunProgress;
}

/** What the progress line shows beyond the counters. */
export interface ProgressEstimate {
  /** Events accepted per second over the last `windowMs` (or since the first sample), or null with fewer than two samples. */
  eventsPerSecond: number | null;
}

/** The rate of accepted events over the last `windowMs` of samples (oldest first). */
export function estimate(samples: ProgressSample[], windowMs = 10_000): ProgressEstimate {
  const last = samples[samples.length - 1];
  if (!last) return { eventsPerSecond: null };
  const base = [...samples].reverse().find((s) => last.at - s.at >= windowMs) ?? samples[0];
  const dt = (last.at - base.at) / 1000;
  return { eventsPerSecond: dt > 0 ? Math.max(0, (last.progress.eventsAccepted - base.progress.eventsAccepted) / dt) : null };
}

/** `412 ms`, `42s`, `3m 10s`, `2h 05m`. */
export function durationText(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function num(n: number): string {
  return n.toLocaleString('en-US');
}

/** The one-line progress of a running sync, e.g. `page 12 | rows 60,000 | events 59,800 (1,234/s) | rejected 200 | at 2026-01-05 10:00:00 of <= 2026-03-01 09:55:00`. */
export function progressLine(p: RunProgress, e: ProgressEstimate): string {
  if (p.phase === 'prepare') return "checking the source and fixing the run's bounds";
  const rejected = Object.values(p.rejected).reduce((a, b) => a + b, 0);
  const parts = [
    p.phase === 'lookback' ? `lookback page ${num(p.pages)}` : `page ${num(p.pages)}`,
    `rows ${num(p.rowsRead)}`,
    `events ${num(p.eventsAccepted)}${e.eventsPerSecond !== null ? ` (${num(Math.round(e.eventsPerSecond))}/s)` : ''}`,
    `rejected ${num(rejected)}`,
  ];
  if (p.throttled) parts.push(`429s ${num(p.throttled)}`);
  if (p.after && p.until) parts.push(`at ${tsText(p.after.ts)} of <= ${tsText(p.until)}`);
  return parts.join(' | ');
}

/** `2026-01-05T10:00:00.000000` -> `2026-01-05 10:00:00` (seconds; a date stays a date). */
function tsText(ts: string): string {
  return ts.replace('T', ' ').replace(/\.\d+/, '').replace(/Z$/, ' UTC');
}

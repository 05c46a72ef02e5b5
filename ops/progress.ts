/**
 * Following a running sync from the CLI: events per second over a sliding window and an ETA.
 *
 * The ETA is an estimate by change time, not by rows: a run reads rows ordered by their
 * change-detection timestamp from the watermark up to `until`, so the share of that time window
 * already read is the share of the work done when rows are spread evenly over change time. Skewed
 * tables (a quiet history, a busy last hour) make it optimistic or pessimistic; it is labelled as an
 * estimate. Counting the rows up front would be exact but costs a scan of the source on every run.
 */
import type { Cursor } from '../incremental/cursor.ts';
import type { RunProgress } from '../workflows/ui.ts';

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
  /** Events accepted per second over the last `windowMs` (or since the first sample). */
  eventsPerSecond: number | null;
  /** Share of the change-time window read so far, 0..1, or null when unknown. */
  fraction: number | null;
  /** Estimated ms until the run ends, or null when unknown. */
  etaMs: number | null;
}

/**
 * Rate and ETA from the samples so far (oldest first). `origin` is the first cursor of the run when
 * the run had no watermark (then the first sample's position stands in for the start).
 */
export function estimate(samples: ProgressSample[], windowMs = 10_000): ProgressEstimate {
  const last = samples[samples.length - 1];
  if (!last) return { eventsPerSecond: null, fraction: null, etaMs: null };
  const base = [...samples].reverse().find((s) => last.at - s.at >= windowMs) ?? samples[0];
  const dt = (last.at - base.at) / 1000;
  const eventsPerSecond = dt > 0 ? Math.max(0, (last.progress.eventsAccepted - base.progress.eventsAccepted) / dt) : null;
  const p = last.progress;
  if (p.phase !== 'main' || !p.after) return { eventsPerSecond, fraction: null, etaMs: null };
  const start: Cursor | null = p.watermarkBefore ?? samples.find((s) => s.progress.after)?.progress.after ?? null;
  if (!start) return { eventsPerSecond, fraction: null, etaMs: null };
  const s = literalMs(start.ts);
  const u = literalMs(p.until);
  const a = literalMs(p.after.ts);
  if (!Number.isFinite(s) || !Number.isFinite(u) || !Number.isFinite(a) || u <= s) return { eventsPerSecond, fraction: null, etaMs: null };
  const fraction = Math.min(1, Math.max(0, (a - s) / (u - s)));
  // Time spent on the main phase so far: from the first sample in this phase.
  const first = samples.find((x) => x.progress.phase === 'main' && x.progress.after) ?? last;
  const spent = last.at - first.at;
  const firstFraction = Math.max(0, (literalMs(first.progress.after!.ts) - s) / (u - s));
  const done = fraction - firstFraction;
  const etaMs = done > 0.01 && spent > 0 ? (spent * (1 - fraction)) / done : null;
  return { eventsPerSecond, fraction, etaMs };
}

/** `42s`, `3m 10s`, `2h 5m`. */
export function durationText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function num(n: number): string {
  return n.toLocaleString('en-US');
}

/** The one-line progress of a running sync, e.g. `page 12 | rows 60,000 | events 59,800 (1,234/s) | rejected 200 | 45% of change window | ETA ~2m 10s`. */
export function progressLine(p: RunProgress, e: ProgressEstimate): string {
  const rejected = Object.values(p.rejected).reduce((a, b) => a + b, 0);
  const parts = [
    p.phase === 'lookback' ? `lookback page ${num(p.pages)}` : `page ${num(p.pages)}`,
    `rows ${num(p.rowsRead)}`,
    `events ${num(p.eventsAccepted)}${e.eventsPerSecond !== null ? ` (${num(Math.round(e.eventsPerSecond))}/s)` : ''}`,
    `rejected ${num(rejected)}`,
  ];
  if (p.throttled) parts.push(`429s ${num(p.throttled)}`);
  if (e.fraction !== null) parts.push(`${Math.floor(e.fraction * 100)}% of change window`);
  if (e.etaMs !== null) parts.push(`ETA ~${durationText(e.etaMs)}`);
  return parts.join(' | ');
}

/**
 * Bounds of a run as canonical literals of the change column's kind (see `cursor.ts`): the settle
 * bound (the inclusive upper bound of change timestamps a run reads), the start of the lookback
 * window, and times typed by a person (backfill ranges, `reset --to`) turned into literals.
 * Pure code (Luxon for IANA zone arithmetic).
 */
import { DateTime } from 'luxon';
import type { ColumnKind } from '../activities/warehouse/types.ts';
import { formatLiteral, roundLiteral, shiftLiteral, type Cursor } from './cursor.ts';

/** Kinds a change-detection column may have. */
export const TIMESTAMP_KINDS: ReadonlySet<ColumnKind> = new Set(['timestamp_ntz', 'timestamp_tz', 'date']);

/**
 * Fraction digits a timestamp column keeps, from its declared type: DuckDB `TIMESTAMP_S` 0,
 * `TIMESTAMP_MS` 3, `TIMESTAMP`/`TIMESTAMPTZ` 6, `TIMESTAMP_NS` 9; a precision in parentheses
 * (Snowflake `TIMESTAMP_NTZ(9)`, `TIMESTAMP_LTZ(3)`) is taken as written; otherwise 6.
 */
export function fractionDigits(sqlType: string): number {
  const t = sqlType.toUpperCase();
  if (/\bTIMESTAMP_S\b/.test(t)) return 0;
  if (/\bTIMESTAMP_MS\b/.test(t)) return 3;
  if (/\bTIMESTAMP_NS\b/.test(t)) return 9;
  const m = /\((\d)\)/.exec(t);
  if (m) return Number(m[1]);
  return 6;
}

/** Fraction digits of the canonical literals of a column with `precision` digits: 6, or 9 beyond microseconds. */
export function literalDigits(precision: number): number {
  return precision > 6 ? 9 : 6;
}

function zoneOrThrow(zone: string): void {
  if (!DateTime.now().setZone(zone).isValid) throw new Error(`"${zone}" is not an IANA time zone (e.g. UTC, Europe/Berlin)`);
}

/**
 * The inclusive upper bound of a run: rows changed at or before `now - settle` are read.
 * - `timestamp_tz`: that instant in UTC;
 * - `timestamp_ntz`: that instant's wall clock in `zone` (the sync's `timestamp_zone`);
 * - `date`: the last day that is complete in `zone` at that instant (a day is read only once it is over,
 *   so rows added later to the current day are not left behind the watermark).
 * Timestamps are rounded down to the column's precision (`precision` fraction digits).
 * @param nowMs epoch milliseconds (UTC)
 * @param settleSeconds the sync's settle delay in seconds
 * @throws Error for a kind that is not a timestamp kind, or an invalid zone.
 */
export function settleBound(kind: ColumnKind, nowMs: number, settleSeconds: number, zone: string, precision = 6): string {
  const ms = nowMs - settleSeconds * 1000;
  const digits = literalDigits(precision);
  switch (kind) {
    case 'timestamp_tz':
      return roundLiteral(formatLiteral(BigInt(ms) * 1_000_000n, digits, true), precision, 'floor');
    case 'timestamp_ntz': {
      zoneOrThrow(zone);
      const local = DateTime.fromMillis(ms, { zone });
      const wall = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second, local.millisecond);
      return roundLiteral(formatLiteral(BigInt(wall) * 1_000_000n, digits), precision, 'floor');
    }
    case 'date': {
      zoneOrThrow(zone);
      return DateTime.fromMillis(ms, { zone }).minus({ days: 1 }).toFormat('yyyy-MM-dd');
    }
    default:
      throw new Error(`a change-detection column must be a timestamp or date, not ${kind}`);
  }
}

/**
 * Where a run starts reading: the watermark itself, or with a lookback, the start of the window
 * `lookbackSeconds` behind the watermark's timestamp (rows exactly at the window's start are not
 * re-read, except, in keyed mode, those with a non-NULL key). On a DATE column the window starts at
 * the day containing `watermark - lookback`, so that day is re-read.
 */
export function readStart(watermark: Cursor | null, lookbackSeconds: number): Cursor | null {
  if (watermark === null || lookbackSeconds <= 0) return watermark;
  return { ts: shiftLiteral(watermark.ts, -lookbackSeconds), key: null };
}

/**
 * Turns a time typed by a person (`2024-05-01`, `2024-05-01T10:00`, `2024-05-01 10:00:00.5`,
 * `2024-05-01T10:00:00+02:00`, `...Z`) into a literal of a column of `kind`:
 * - without an offset the time is read in `zone` (the sync's `timestamp_zone`), like zone-less columns;
 * - `timestamp_tz`: the instant in UTC; `timestamp_ntz`: the wall clock in `zone`;
 * - `date`: the day (in `zone`) that contains the time.
 * Rounded to the column's `precision` in direction `mode`.
 * @throws Error naming the text when it is not such a time, or the kind is not a timestamp kind.
 */
export function userTimeLiteral(text: string, kind: ColumnKind, zone: string, precision = 6, mode: 'floor' | 'ceil' = 'ceil'): string {
  zoneOrThrow(zone);
  const t = text.trim();
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(t);
  const dt = DateTime.fromISO(t.replace(' ', 'T'), { zone, setZone: true });
  if (!/^\d{4}-\d{2}-\d{2}/.test(t) || !dt.isValid) {
    throw new Error(`"${text}" is not a date or time: expected e.g. 2024-05-01, 2024-05-01T10:00:00 or 2024-05-01T10:00:00+02:00`);
  }
  const inZone = dt.setZone(zone);
  const digits = literalDigits(precision);
  // Luxon keeps milliseconds; the digits beyond them are read from the text so nothing is lost.
  const extra = /\.\d{3}(\d{1,6})/.exec(t)?.[1] ?? '';
  const subMs = BigInt(extra.padEnd(6, '0'));
  switch (kind) {
    case 'date':
      return dateOnly ? t : inZone.toFormat('yyyy-MM-dd');
    case 'timestamp_tz':
      return roundLiteral(formatLiteral(BigInt(dt.toMillis()) * 1_000_000n + subMs, digits, true), precision, mode);
    case 'timestamp_ntz': {
      const wall = Date.UTC(inZone.year, inZone.month - 1, inZone.day, inZone.hour, inZone.minute, inZone.second, inZone.millisecond);
      return roundLiteral(formatLiteral(BigInt(wall) * 1_000_000n + subMs, digits), precision, mode);
    }
    default:
      throw new Error(`a time range needs a TIMESTAMP or DATE column, not ${kind}`);
  }
}

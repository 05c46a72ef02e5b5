/**
 * Upper and lower bounds of a run, as canonical literals of the change column's kind.
 * Pure code (Luxon for IANA zone arithmetic).
 */
import { DateTime } from 'luxon';
import type { ColumnKind } from '../activities/warehouse/types.ts';
import { formatMicros, shiftLiteral, type Cursor } from './cursor.ts';

/** Kinds a change-detection or event timestamp column may have. */
export const TIMESTAMP_KINDS: ReadonlySet<ColumnKind> = new Set(['timestamp_ntz', 'timestamp_tz', 'date']);

/**
 * The inclusive upper bound of a run: rows changed at or before `now - settle` are read.
 * - `timestamp_tz`: that instant in UTC;
 * - `timestamp_ntz`: that instant's wall clock in `zone` (the sync's `timestamp_zone`);
 * - `date`: the last day that is complete in `zone` at that instant (a day is read only once it is over,
 *   so rows added later to the current day are not left behind the watermark).
 * @param nowMs epoch milliseconds (UTC)
 * @param settleSeconds the sync's settle delay in seconds
 * @throws Error for a kind that is not a timestamp kind.
 */
export function settleBound(kind: ColumnKind, nowMs: number, settleSeconds: number, zone: string): string {
  const ms = nowMs - settleSeconds * 1000;
  switch (kind) {
    case 'timestamp_tz':
      return `${formatMicros(BigInt(ms) * 1000n)}Z`;
    case 'timestamp_ntz': {
      const local = DateTime.fromMillis(ms, { zone });
      if (!local.isValid) throw new Error(`invalid time zone "${zone}"`);
      return `${local.toFormat("yyyy-MM-dd'T'HH:mm:ss.SSS")}000`;
    }
    case 'date': {
      const local = DateTime.fromMillis(ms, { zone });
      if (!local.isValid) throw new Error(`invalid time zone "${zone}"`);
      return local.minus({ days: 1 }).toFormat('yyyy-MM-dd');
    }
    default:
      throw new Error(`a change-detection column must be a timestamp or date, not ${kind}`);
  }
}

/**
 * Where a run starts reading: the watermark itself, or with a lookback, the start of the window
 * `lookbackSeconds` behind the watermark's timestamp (rows exactly at the window's start are not re-read).
 */
export function readStart(watermark: Cursor | null, lookbackSeconds: number): Cursor | null {
  if (watermark === null || lookbackSeconds <= 0) return watermark;
  return { ts: shiftLiteral(watermark.ts, -lookbackSeconds), key: null };
}

/**
 * The incremental cursor: the pair (change-detection timestamp, tie-break key), compared
 * lexicographically. Timestamps are canonical literals of the change column's kind (see
 * `ColumnKind`): they sort as strings within one kind, and are bound as parameters cast to the
 * column's own type so the warehouse compares them exactly (microseconds and beyond).
 *
 * Pure code: imported by activities, the CLI and (types only) workflows.
 */

/** A position in the ordered stream of rows. `key` is null in group mode (no tie-break column). */
export interface Cursor {
  /** Canonical literal of the change timestamp, e.g. `2024-05-01T10:00:00.000000` or `...Z` or `2024-05-01`. */
  ts: string;
  /**
   * Text of the tie-break value of the last row at `ts`, or null: in group mode always null; in keyed
   * mode null means "after the rows whose key is NULL, before every non-NULL key".
   */
  key: string | null;
}

/** True when both cursors denote the same position (null = before the first row). */
export function sameCursor(a: Cursor | null, b: Cursor | null): boolean {
  if (a === null || b === null) return a === b;
  return a.ts === b.ts && a.key === b.key;
}

/** `YYYY-MM-DD HH:MM:SS[.f]` style literal into the canonical `YYYY-MM-DDTHH:MM:SS.ffffff` (6 digits). */
function microsFromLiteral(lit: string): { micros: bigint; zoned: boolean; date: boolean } {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?)?(Z)?$/.exec(lit);
  if (!m) throw new Error(`not a canonical timestamp literal: ${lit}`);
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0));
  const frac = (m[7] ?? '').padEnd(6, '0').slice(0, 6);
  return { micros: BigInt(ms) * 1000n + BigInt(frac || '0'), zoned: m[8] === 'Z', date: m[4] === undefined };
}

/** Formats epoch microseconds (read as UTC) as `YYYY-MM-DDTHH:MM:SS.ffffff`. */
export function formatMicros(micros: bigint): string {
  let ms = micros / 1000n;
  let sub = micros % 1000n;
  if (sub < 0n) {
    sub += 1000n;
    ms -= 1n;
  }
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 23)}${sub.toString().padStart(3, '0')}`;
}

/**
 * Moves a canonical timestamp literal by `seconds` (negative = earlier), keeping its kind.
 * Zone-less literals move in wall-clock terms, which is what a window over such a column means.
 */
export function shiftLiteral(lit: string, seconds: number): string {
  const { micros, zoned, date } = microsFromLiteral(lit);
  const moved = micros + BigInt(Math.round(seconds * 1e6));
  const text = formatMicros(moved);
  if (date) return text.slice(0, 10);
  return zoned ? `${text}Z` : text;
}

/** Kinds of tie-break values, for comparing keys the way the warehouse orders them. */
export type KeyOrder = 'numeric' | 'text';

function compareNumericText(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isSafeInteger(na) && Number.isSafeInteger(nb)) return na - nb;
  if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) {
    const ba = BigInt(a);
    const bb = BigInt(b);
    return ba < bb ? -1 : ba > bb ? 1 : 0;
  }
  return na < nb ? -1 : na > nb ? 1 : 0;
}

/**
 * Orders two cursors of the same sync: by timestamp literal, then key (NULL key first, as pages are
 * ordered `NULLS FIRST`). Canonical literals of one kind order correctly as strings.
 */
export function compareCursor(a: Cursor, b: Cursor, keyOrder: KeyOrder): number {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  if (a.key === b.key) return 0;
  if (a.key === null) return -1;
  if (b.key === null) return 1;
  if (keyOrder === 'numeric') return compareNumericText(a.key, b.key);
  return a.key < b.key ? -1 : 1;
}

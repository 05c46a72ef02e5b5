/**
 * The incremental cursor: the pair (change-detection timestamp, tie-break key), compared
 * lexicographically. Timestamps are canonical literals of the change column's kind (see
 * `ColumnKind`), bound as parameters cast to the column's own type so the warehouse compares them
 * exactly:
 *
 * - `timestamp_ntz`: `YYYY-MM-DDTHH:MM:SS.ffffff` (wall clock, no zone)
 * - `timestamp_tz`:  `YYYY-MM-DDTHH:MM:SS.ffffffZ` (the instant in UTC)
 * - `date`:          `YYYY-MM-DD`
 *
 * The fraction has 6 digits (microseconds), or 9 for columns more precise than microseconds
 * (DuckDB TIMESTAMP_NS, Snowflake TIMESTAMP_*(7..9)): truncating those to microseconds would give
 * distinct rows the same cursor and re-read them forever. Functions here accept 0 to 9 digits and
 * compare literals by value, not by text length.
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
  /**
   * True for the position just *before* every row at `ts` (rows at `ts` are read, whatever their key).
   * Set only by a deliberate `reset --to <time>`; page cursors never have it. `key` is then null.
   */
  inclusive?: boolean;
}

/** True when both cursors denote the same position (null = before the first row). */
export function sameCursor(a: Cursor | null, b: Cursor | null): boolean {
  if (a === null || b === null) return a === b;
  return compareTs(a.ts, b.ts) === 0 && a.key === b.key && !!a.inclusive === !!b.inclusive;
}

/** The parts of a canonical literal. `nanos` counts from the Unix epoch read as UTC. */
export interface ParsedLiteral {
  nanos: bigint;
  /** Digits of the fraction as written (0 to 9); -1 for a date. */
  digits: number;
  zoned: boolean;
  date: boolean;
}

const LITERAL = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?)?(Z)?$/;

/**
 * Parses a canonical literal (also accepts a space instead of `T`).
 * @throws Error when `lit` is not of the form `YYYY-MM-DD[THH:MM:SS[.f{1,9}]][Z]`.
 */
export function parseLiteral(lit: string): ParsedLiteral {
  const m = LITERAL.exec(lit);
  if (!m) throw new Error(`not a canonical timestamp literal: ${lit}`);
  const d = new Date(Date.UTC(2000, +m[2] - 1, +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0)));
  d.setUTCFullYear(+m[1]); // Date.UTC maps years 0-99 to 1900-1999; the year is set on its own
  const ms = d.getTime();
  if (Number.isNaN(ms)) throw new Error(`not a canonical timestamp literal: ${lit}`);
  const frac = m[7] ?? '';
  const nanos = BigInt(ms) * 1_000_000n + BigInt(frac.padEnd(9, '0') || '0');
  return { nanos, digits: m[4] === undefined ? -1 : frac.length, zoned: m[8] === 'Z', date: m[4] === undefined };
}

/**
 * Formats epoch nanoseconds (read as UTC) as `YYYY-MM-DDTHH:MM:SS.f` with `digits` fraction digits
 * (0 to 9; truncated, never rounded), plus `Z` when `zoned`; or `YYYY-MM-DD` when `digits` is -1.
 */
export function formatLiteral(nanos: bigint, digits: number, zoned = false): string {
  let ms = nanos / 1_000_000n;
  let sub = nanos % 1_000_000n;
  if (sub < 0n) {
    sub += 1_000_000n;
    ms -= 1n;
  }
  // YYYY-MM-DDTHH:MM:SS.mmmZ, or ±YYYYYY-MM-DDTHH:MM:SS.mmmZ outside years 0000-9999 (kept well-formed;
  // such a value is no canonical literal, and the mapping rejects it as an event time)
  const iso = new Date(Number(ms)).toISOString();
  const t = iso.indexOf('T');
  if (digits < 0) return iso.slice(0, t);
  const frac = `${iso.slice(t + 10, t + 13)}${sub.toString().padStart(6, '0')}`.slice(0, digits);
  return `${iso.slice(0, t + 9)}${digits > 0 ? `.${frac}` : ''}${zoned ? 'Z' : ''}`;
}

/** Formats epoch microseconds (read as UTC) as `YYYY-MM-DDTHH:MM:SS.ffffff`. */
export function formatMicros(micros: bigint): string {
  return formatLiteral(micros * 1000n, 6);
}

/** Formats epoch nanoseconds (read as UTC) as `YYYY-MM-DDTHH:MM:SS.fffffffff`. */
export function formatNanos(nanos: bigint): string {
  return formatLiteral(nanos, 9);
}

/**
 * Moves a canonical timestamp literal by `seconds` (negative = earlier), keeping its kind and number
 * of fraction digits. Zone-less literals move in wall-clock terms, which is what a window over such a
 * column means. A date moves to the day that contains the moved instant (midnight - 1 h = the day before).
 */
export function shiftLiteral(lit: string, seconds: number): string {
  const p = parseLiteral(lit);
  const moved = p.nanos + BigInt(Math.round(seconds * 1e6)) * 1000n;
  return formatLiteral(moved, p.digits, p.zoned);
}

/**
 * Rounds a timestamp literal to `digits` fraction digits (the column's precision, see
 * `fractionDigits`), down (`floor`) or up (`ceil`). Warehouses round a more precise parameter when
 * casting it to a coarser column type (DuckDB: `CAST('..01.7' AS TIMESTAMP_S)` is `..02`), which would
 * silently widen an inclusive upper bound; rounding here, in the safe direction, avoids that.
 * Dates are returned unchanged.
 */
export function roundLiteral(lit: string, digits: number, mode: 'floor' | 'ceil'): string {
  const p = parseLiteral(lit);
  if (p.date) return lit;
  const unit = 10n ** BigInt(9 - Math.max(0, Math.min(9, digits)));
  let n = p.nanos - (((p.nanos % unit) + unit) % unit);
  if (mode === 'ceil' && n !== p.nanos) n += unit;
  return formatLiteral(n, p.digits, p.zoned);
}

/**
 * Orders two literals of the same kind by value (`.5` equals `.500000`). Falls back to text order when
 * either is not a canonical literal.
 */
export function compareTs(a: string, b: string): number {
  if (a === b) return 0;
  let pa: ParsedLiteral, pb: ParsedLiteral;
  try {
    pa = parseLiteral(a);
    pb = parseLiteral(b);
  } catch {
    return a < b ? -1 : 1;
  }
  return pa.nanos < pb.nanos ? -1 : pa.nanos > pb.nanos ? 1 : 0;
}

/**
 * A text form of a literal that sorts by value as a string (fraction padded to 9 digits, no `Z`):
 * used where literals are compared by a database that knows nothing of them (the state store).
 */
export function tsSortKey(lit: string): string {
  const p = parseLiteral(lit);
  return p.date ? formatLiteral(p.nanos, -1) : formatLiteral(p.nanos, 9);
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

/** Byte order of the UTF-8 encodings (how DuckDB and Snowflake order text under their default collation). */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Orders two cursors of the same sync: by timestamp, then key (an inclusive cursor before every row
 * at its timestamp; then NULL key, as pages are ordered `NULLS FIRST`; then keys in the warehouse's order).
 */
export function compareCursor(a: Cursor, b: Cursor, keyOrder: KeyOrder): number {
  const t = compareTs(a.ts, b.ts);
  if (t !== 0) return t;
  if (!!a.inclusive !== !!b.inclusive) return a.inclusive ? -1 : 1;
  if (a.key === b.key) return 0;
  if (a.key === null) return -1;
  if (b.key === null) return 1;
  if (keyOrder === 'numeric') return Math.sign(compareNumericText(a.key, b.key));
  return compareUtf8(a.key, b.key);
}

/**
 * What a watermark's cursor is a position in: the table, the change-detection column and the tie-break
 * column with their warehouse types, e.g. `shop.orders: change updated_at TIMESTAMP, key order_id VARCHAR`.
 * A cursor means nothing in another order: a run refuses a watermark recorded for another source.
 */
export function cursorSourceText(table: string, change: { name: string; sqlType: string }, tieBreaker?: { name: string; sqlType: string }): string {
  return `${table}: change ${change.name} ${change.sqlType}, key ${tieBreaker ? `${tieBreaker.name} ${tieBreaker.sqlType}` : 'none'}`;
}

/** A cursor as one short line for messages and logs: `2024-05-01T10:00:00.000000 / key 42`. */
export function cursorText(c: Cursor | null): string {
  if (!c) return 'none (never committed)';
  if (c.inclusive) return `${c.ts} (rows at this time included)`;
  return c.key === null ? c.ts : `${c.ts} / key ${c.key}`;
}

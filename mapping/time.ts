/**
 * Event times and timestamp properties (DESIGN.md rule 2, pitfall 3). Pure code.
 *
 * - Zone-less values (TIMESTAMP_NTZ, DATE, ISO text without offset) are wall-clock times in the sync's
 *   `timestamp_zone` (IANA, default UTC), never in the process's or the session's zone.
 * - A DATE is the first instant of that day in the zone (midnight, or the end of a DST gap when midnight
 *   does not exist there), not midnight UTC: `2024-03-10` in America/New_York is `2024-03-10T05:00:00.000Z`.
 * - A wall-clock time that happens twice (the hour repeated when clocks go back) is the earlier instant;
 *   one that never happens (the hour skipped when clocks go forward) moves forward by the gap, e.g.
 *   02:30 on a spring-forward night in Europe/London is 02:30+01:00 (as java.time and Luxon do).
 *
 * Zone arithmetic uses Luxon's IANA zone offsets, cached per wall-clock hour, so a page of rows costs a
 * few offset look-ups, not one per row.
 */
import { IANAZone } from 'luxon';
import type { ColumnKind, SourceValue } from '../activities/warehouse/types.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const UTC_NAMES = new Set(['UTC', 'Etc/UTC', 'Etc/Universal', 'Universal', 'GMT', 'Etc/GMT', 'Zulu', 'Etc/Zulu']);
const CACHE_LIMIT = 100_000;

/** Epoch ms of a UTC calendar time, correct for years below 100 too (Date.UTC maps 0-99 to 1900-1999). */
export function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  if (y >= 100) return t;
  const date = new Date(t);
  date.setUTCFullYear(y);
  return date.getTime();
}

function daysInMonth(y: number, mo: number): number {
  if (mo === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
}

/** True when the fields form a real calendar time (no 24:00, no leap second, no 30 February). */
function validFields(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  return mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth(y, mo) && h <= 23 && mi <= 59 && s <= 59;
}

/**
 * Converts wall-clock times of one IANA zone into instants (see the module comment for gaps and
 * repeated hours). Not thread-safe state: a per-hour offset cache.
 */
export class ZoneClock {
  readonly zone: string;
  readonly isUtc: boolean;
  private readonly iana: IANAZone | null;
  private readonly hours = new Map<number, number>();

  /** @throws RangeError when `zone` is not a valid IANA zone name. */
  constructor(zone: string) {
    this.zone = zone;
    this.isUtc = UTC_NAMES.has(zone);
    if (this.isUtc) {
      this.iana = null;
      return;
    }
    if (!IANAZone.isValidZone(zone)) throw new RangeError(`"${zone}" is not an IANA time zone name (e.g. Europe/London)`);
    this.iana = IANAZone.create(zone);
  }

  /** Offset (ms) of the zone at an instant. */
  private offsetAt(utc: number): number {
    return this.iana!.offset(utc) * 60_000;
  }

  /**
   * The instant(s) a wall-clock time denotes: `unique` when it happens once; otherwise the earlier of two
   * (repeated hour) or the forward-moved instant (gap).
   */
  private resolve(wall: number): { utc: number; unique: boolean; offset: number } {
    const early = this.offsetAt(wall - DAY_MS);
    const late = this.offsetAt(wall + DAY_MS);
    const a = wall - early;
    const okA = this.offsetAt(a) === early;
    if (early === late) {
      if (okA) return { utc: a, unique: true, offset: early };
      // A transition and its reversal within two days (rare historic cases): ask at the guess itself.
      const o = this.offsetAt(a);
      return { utc: wall - o, unique: false, offset: o };
    }
    const b = wall - late;
    const okB = this.offsetAt(b) === late;
    if (okA && okB) return a <= b ? { utc: a, unique: false, offset: early } : { utc: b, unique: false, offset: late };
    if (okA) return { utc: a, unique: true, offset: early };
    if (okB) return { utc: b, unique: true, offset: late };
    return { utc: a, unique: false, offset: early }; // gap: the pre-transition offset moves it forward
  }

  /**
   * The one offset valid for every wall-clock time of the hour starting at `wall`, or NaN when the hour
   * is near a transition (then each time is resolved on its own). Three offset look-ups in the common case.
   */
  private stableOffset(wall: number): number {
    const early = this.offsetAt(wall - DAY_MS);
    if (early === this.offsetAt(wall + HOUR_MS + DAY_MS) && this.offsetAt(wall - early) === early) return early;
    const start = this.resolve(wall);
    const end = this.resolve(wall + HOUR_MS - 1);
    return start.unique && end.unique && start.offset === end.offset ? start.offset : Number.NaN;
  }

  /** The instant (epoch ms) of a wall-clock time given as epoch ms "as if UTC". */
  toUtc(wall: number): number {
    if (this.isUtc) return wall;
    const hour = Math.floor(wall / HOUR_MS);
    let off = this.hours.get(hour);
    if (off === undefined) {
      off = this.stableOffset(hour * HOUR_MS);
      if (this.hours.size >= CACHE_LIMIT) this.hours.clear();
      this.hours.set(hour, off);
    }
    return Number.isNaN(off) ? this.resolve(wall).utc : wall - off;
  }
}

/** Reads a fixed-width run of ASCII digits; -1 when any character is not a digit. */
function num(s: string, at: number, len: number): number {
  let n = 0;
  for (let k = at; k < at + len; k++) {
    const c = s.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** Fields of a wall-clock reading. `frac` holds the fraction's digits as written (may be empty). */
interface Wall {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  frac: string;
  /** Offset east of UTC in ms when the text carried one (`Z` = 0), else undefined. */
  offset?: number;
  dateOnly: boolean;
}

/**
 * `YYYY-MM-DD`, or `YYYY-MM-DD[T ]HH:MM:SS[.f...]` optionally followed by `Z`: the canonical forms of the
 * reader's `date`, `timestamp_ntz` and `timestamp_tz` kinds, parsed without a regex.
 */
function parseCanonical(s: string): Wall | null {
  const n = s.length;
  if (n < 10) return null;
  const y = num(s, 0, 4);
  const mo = num(s, 5, 2);
  const d = num(s, 8, 2);
  if (y < 0 || mo < 0 || d < 0 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return null;
  if (n === 10) return { y, mo, d, h: 0, mi: 0, s: 0, frac: '', dateOnly: true };
  const t = s.charCodeAt(10);
  if (n < 19 || (t !== 84 && t !== 32) || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return null;
  const h = num(s, 11, 2);
  const mi = num(s, 14, 2);
  const sec = num(s, 17, 2);
  if (h < 0 || mi < 0 || sec < 0) return null;
  let end = n;
  let offset: number | undefined;
  if (s.charCodeAt(n - 1) === 90 /* Z */) {
    offset = 0;
    end = n - 1;
  }
  let frac = '';
  if (end > 19) {
    if (s.charCodeAt(19) !== 46 || end === 20) return null;
    frac = s.slice(20, end);
    for (let k = 0; k < frac.length; k++) {
      const c = frac.charCodeAt(k);
      if (c < 48 || c > 57) return null;
    }
  }
  return { y, mo, d, h, mi, s: sec, frac, offset, dateOnly: false };
}

const TEXT_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(?:([Zz]|UTC|GMT)|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/**
 * ISO 8601 / RFC 3339 text as found in VARCHAR columns: a date, or a date and time (`T` or space,
 * minutes required, seconds and fraction optional), optionally followed by `Z`, `UTC`, `GMT` or an offset
 * (`+02:00`, `+0200`, `+02`). Surrounding white space is ignored. Unix numbers are not timestamps here:
 * seconds and milliseconds cannot be told apart.
 */
function parseText(text: string): Wall | null {
  const s = text.trim();
  const canon = parseCanonical(s);
  if (canon) return canon;
  const m = TEXT_TIME.exec(s);
  if (!m) return null;
  const wall: Wall = {
    y: +m[1],
    mo: +m[2],
    d: +m[3],
    h: m[4] ? +m[4] : 0,
    mi: m[5] ? +m[5] : 0,
    s: m[6] ? +m[6] : 0,
    frac: m[7] ?? '',
    dateOnly: m[4] === undefined,
  };
  if (m[8]) wall.offset = 0;
  else if (m[9]) {
    const oh = +m[10];
    const om = m[11] ? +m[11] : 0;
    if (oh > 23 || om > 59) return null;
    wall.offset = (m[9] === '-' ? -1 : 1) * (oh * HOUR_MS + om * 60_000);
  }
  return wall;
}

function fracMs(frac: string): number {
  if (frac.length === 0) return 0;
  if (frac.length >= 3) return num(frac, 0, 3);
  return num(frac, 0, frac.length) * (frac.length === 1 ? 100 : 10);
}

/** Epoch ms of a parsed reading (sub-millisecond digits truncated), NaN when the fields are not a real time. */
function instant(w: Wall, clock: ZoneClock): number {
  if (!validFields(w.y, w.mo, w.d, w.h, w.mi, w.s)) return Number.NaN;
  const wall = utcMs(w.y, w.mo, w.d, w.h, w.mi, w.s, fracMs(w.frac));
  if (w.offset !== undefined) return wall - w.offset;
  return clock.toUtc(wall);
}

/** Reads one value of a column into epoch ms (UTC), or NaN when it is not a readable time. */
export type TimeReader = (v: SourceValue) => number;

/** Column kinds an event timestamp may have. */
export const EVENT_TIME_KINDS: ReadonlySet<ColumnKind> = new Set(['timestamp_ntz', 'timestamp_tz', 'date', 'text', 'other']);

/**
 * A reader for event times of one column kind in one zone (see the module comment).
 * Every kind accepts the canonical forms first and falls back to ISO text, so a reader that hands a
 * slightly different but unambiguous form still works. Never throws.
 */
export function timeReader(kind: ColumnKind, clock: ZoneClock): TimeReader {
  const general: TimeReader = (v) => {
    if (typeof v !== 'string') return Number.NaN;
    const w = parseText(v);
    return w ? instant(w, clock) : Number.NaN;
  };
  if (kind === 'timestamp_tz' || kind === 'timestamp_ntz' || kind === 'date') {
    // A zone-less canonical value of a timestamp_tz column is UTC by the reader's contract.
    const tz = kind === 'timestamp_tz';
    return (v) => {
      if (typeof v !== 'string') return Number.NaN;
      const w = parseCanonical(v);
      if (!w) return general(v);
      if (tz && w.offset === undefined) w.offset = 0;
      return instant(w, clock);
    };
  }
  return general;
}

const TWO = Array.from({ length: 100 }, (_, i) => (i < 10 ? `0${i}` : String(i)));
const THREE = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/**
 * `YYYY-MM-DDTHH:MM:SS.mmmZ` for an epoch ms (the event `time` format): the same text as
 * `Date#toISOString`, computed with integer arithmetic (civil-from-days) as this runs once per row.
 */
export function formatEventTime(ms: number): string {
  if (!(ms >= 0 && ms <= 253_402_300_799_999)) return new Date(ms).toISOString();
  const days = Math.floor(ms / DAY_MS);
  let rem = ms - days * DAY_MS;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const h = Math.floor(rem / HOUR_MS);
  rem -= h * HOUR_MS;
  const mi = Math.floor(rem / 60_000);
  rem -= mi * 60_000;
  const sec = Math.floor(rem / 1000);
  const milli = rem - sec * 1000;
  return `${y < 1000 ? String(y).padStart(4, '0') : y}-${TWO[m]}-${TWO[d]}T${TWO[h]}:${TWO[mi]}:${TWO[sec]}.${THREE[milli]}Z`;
}

/**
 * A timestamp column's value as a property: the instant in UTC as ISO 8601 with the source's
 * microseconds, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (zone-less values read in `clock`'s zone).
 * Returns the value unchanged when it is not a readable timestamp (it is then still worth sending).
 */
export function timestampProperty(v: string, kind: 'timestamp_tz' | 'timestamp_ntz', clock: ZoneClock): string {
  const w = parseCanonical(v) ?? parseText(v);
  if (!w || w.dateOnly) return v;
  if (kind === 'timestamp_tz' && w.offset === 0 && w.frac.length === 6 && v.length === 27) return v;
  if (kind === 'timestamp_tz' && w.offset === undefined) w.offset = 0;
  const ms = instant(w, clock);
  if (Number.isNaN(ms) || ms < -62_135_596_800_000 || ms > 253_402_300_799_999) return v;
  const micros = (w.frac + '000000').slice(3, 6);
  return `${new Date(ms).toISOString().slice(0, 23)}${micros}Z`;
}

/**
 * Property values (DESIGN.md rule 6, pitfalls 8 and 9): one converter per column, chosen once per sync
 * from the column's kind, turning a reader value into the JSON value sent. `undefined` means "leave the
 * property out". Pure code.
 *
 * | kind | sent as |
 * |---|---|
 * | text | the string as is (no trimming); a text that is a JSON object or array (`{...}`, `[...]`) is parsed |
 * | integer | a number; beyond 2^53 - 1 the exact digit string the reader gives |
 * | decimal | a number when its JSON text is the same decimal (`12.50` -> `12.5`), else the exact text |
 * | float | a number; NaN and infinities as the strings `NaN`, `Infinity`, `-Infinity`; integral beyond 2^53 - 1 as text |
 * | boolean | true / false |
 * | timestamp_tz, timestamp_ntz | ISO 8601 instant in UTC with microseconds, `2024-05-01T09:00:00.123456Z` (NTZ read in the sync's zone) |
 * | date | `YYYY-MM-DD` as is (a date is not an instant; see mapping/README.md) |
 * | time, binary (hex), other | the string as is |
 * | json | the parsed JSON value (a JSON `null` is left out); unparseable text as is |
 * | structured | the value, with numbers made JSON-safe as above |
 *
 * NULL is left out; so is the empty string `""`, which Klaviyo treats as unset anyway. `0` and `false`
 * are sent: they are real values in the warehouse. JSON text is parsed without changing any number
 * (`parseJsonExact`).
 */
import type { ColumnKind, SourceValue } from '../activities/warehouse/types.ts';
import { exactNumber, numberProperty, parseJsonExact } from './numbers.ts';
import { timestampProperty, type ZoneClock } from './time.ts';

/** Converts one non-NULL reader value; `undefined` = leave the property out. Never throws. */
export type PropertyConverter = (v: SourceValue) => unknown;

/** Deepest structure copied; deeper levels are kept as they are and rejected by the limit check (10 levels). */
const MAX_COPY_DEPTH = 12;

/**
 * A parsed or structured value made JSON-safe: numbers as `numberProperty`, bigint as text, `undefined`
 * and functions left out of objects (null in arrays, as JSON.stringify does), Dates as ISO text.
 */
export function jsonSafe(v: unknown, depth = 0): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return numberProperty(v);
    case 'bigint':
      return v.toString();
    case 'object': {
      if (v === null) return null;
      if (depth >= MAX_COPY_DEPTH) return v;
      if (Array.isArray(v)) {
        const out = new Array(v.length);
        for (let i = 0; i < v.length; i++) {
          const x = jsonSafe(v[i], depth + 1);
          out[i] = x === undefined ? null : x;
        }
        return out;
      }
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
      if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const x = jsonSafe((v as Record<string, unknown>)[k], depth + 1);
        if (x === undefined) continue;
        if (k === '__proto__') setOwn(out, k, x);
        else out[k] = x;
      }
      return out;
    }
    default:
      return undefined;
  }
}

/** Sets an own, enumerable property even for a key like `__proto__` (which `=` would treat as the prototype). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Any value of an unexpected JS type for its kind: the best JSON-safe reading of it. */
const anyValue: PropertyConverter = (v) => {
  if (v === '') return undefined;
  return jsonSafe(v);
};

function firstNonSpace(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return c;
  }
  return -1;
}

function lastNonSpace(s: string): number {
  for (let i = s.length - 1; i >= 0; i--) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return c;
  }
  return -1;
}

/** A text that looks like a JSON object or array is parsed into it; anything else is kept as is. */
/** JSON text parsed exactly; a `-0` (which JSON writes as `0`) becomes `0` so the event equals its wire form. */
function parseJson(text: string): unknown {
  const parsed = parseJsonExact(text);
  return text.includes('-0') && typeof parsed !== 'string' ? jsonSafe(parsed) : parsed;
}

const textValue: PropertyConverter = (v) => {
  if (typeof v !== 'string') return anyValue(v);
  if (v.length === 0) return undefined;
  const a = firstNonSpace(v);
  if (a === 123 /* { */ || a === 91 /* [ */) {
    const b = lastNonSpace(v);
    if ((a === 123 && b === 125) || (a === 91 && b === 93)) {
      try {
        return parseJson(v);
      } catch {
        return v;
      }
    }
  }
  return v;
};

const jsonValue: PropertyConverter = (v) => {
  if (typeof v !== 'string') return anyValue(v);
  if (v.length === 0) return undefined;
  try {
    const parsed = parseJson(v);
    return parsed === null ? undefined : parsed;
  } catch {
    return v;
  }
};

/**
 * The converter for one column.
 * @param clock the sync's `timestamp_zone`, for TIMESTAMP_NTZ values
 */
export function propertyConverter(kind: ColumnKind, clock: ZoneClock): PropertyConverter {
  switch (kind) {
    case 'text':
      return textValue;
    case 'json':
      return jsonValue;
    case 'integer':
      return (v) => (typeof v === 'number' ? numberProperty(v) : anyValue(v));
    case 'decimal':
      return (v) => {
        if (typeof v !== 'string') return anyValue(v);
        const n = exactNumber(v);
        return n !== undefined && (!Number.isInteger(n) || Number.isSafeInteger(n)) ? n : v === '' ? undefined : v;
      };
    case 'float':
      return (v) => (typeof v === 'number' ? numberProperty(v) : anyValue(v));
    case 'boolean':
      return (v) => (typeof v === 'boolean' ? v : anyValue(v));
    case 'timestamp_tz':
    case 'timestamp_ntz':
      return (v) => (typeof v === 'string' && v !== '' ? timestampProperty(v, kind, clock) : anyValue(v));
    case 'structured':
      return (v) => (typeof v === 'object' ? jsonSafe(v) : anyValue(v));
    default:
      // date, time, binary, other: the text as the reader gives it
      return (v) => (typeof v === 'string' ? (v === '' ? undefined : v) : anyValue(v));
  }
}

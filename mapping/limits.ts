/**
 * Klaviyo's ingestion limits per event (DESIGN.md rule 7), from klaviyo-api.md "Validation and limits"
 * and Klaviyo's "Rate limits and error handling" page (ingestion limits table). A row that breaks one is
 * rejected with its reason, never cut. Pure code.
 */
import { wireEvent } from '../loading/bulk.ts';
import type { KlaviyoEvent, RejectReason } from './types.ts';

/** The limits, with their sources. */
export const LIMITS = {
  /** Metric name: 1 to 127 characters. */
  metricNameChars: 127,
  /** unique_id: 1 to 255 characters. */
  uniqueIdChars: 255,
  /** Email: under 100 characters. */
  emailChars: 99,
  /** Event properties (top-level keys): Klaviyo's API reference says 400, its ingestion-limits table 300: at most 300. */
  propertyKeys: 300,
  /** Any string (property value or key): at most 100 KB of UTF-8. */
  stringBytes: 100 * 1024,
  /** Any array: at most 4,000 items. */
  arrayItems: 4000,
  /** Nesting: at most 10 levels of objects and arrays, the properties object itself being level 1. */
  nestingDepth: 10,
  /** Integers: 64-bit signed. (The mapper never emits integers beyond 2^53 - 1: it sends those as text.) */
  maxInteger: 2 ** 63,
  /** One request is at most 5 MB; an event with its profile must fit in one request with the envelope. */
  requestBytes: 5 * 1024 * 1024,
  /** The profile object: at most 95 KB. */
  profileBytes: 95 * 1024,
  /** Event time: not before 1990-01-01T00:00:00Z (revision 2026-07-15; 2000 before it). */
  minTimeMs: Date.UTC(1990, 0, 1),
  /** Event time: not after now + 1 year (365 days, so a leap year never lets a time through that Klaviyo refuses). */
  maxAheadMs: 365 * 24 * 3600 * 1000,
} as const;

/** A broken limit inside the properties: which rule, where (`properties.a.b[3]`), and a sentence. */
export interface LimitViolation {
  reason: Extract<RejectReason, 'property_limit' | 'string_too_long' | 'array_too_long' | 'nesting_too_deep' | 'integer_out_of_range' | 'mapping_failed'>;
  /** Top-level property key the violation is under (for naming the source column). */
  key?: string;
  detail: string;
}

function utf8Bytes(s: string): number {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: skip the exact count when it cannot matter.
  return s.length * 3 <= LIMITS.stringBytes ? s.length : Buffer.byteLength(s);
}

function where(path: (string | number)[]): string {
  let out = 'properties';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`;
  return out;
}

function describe(s: string): string {
  return s.length > 40 ? `${JSON.stringify(s.slice(0, 40))}...` : JSON.stringify(s);
}

/** Walk state of `checkProperties` (module-level functions, no per-call closures: this is the hot path). */
interface Walk {
  maxBytes: number;
  violation: LimitViolation | null;
  path: (string | number)[];
}

function fail(w: Walk, reason: LimitViolation['reason'], detail: string): false {
  w.violation = { reason, detail, key: typeof w.path[0] === 'string' ? w.path[0] : undefined };
  return false;
}

function visit(w: Walk, v: unknown, level: number): boolean {
  switch (typeof v) {
    case 'string':
      w.maxBytes += 2 + v.length * 6;
      if (utf8Bytes(v) > LIMITS.stringBytes) {
        return fail(w, 'string_too_long', `${where(w.path)} is ${Buffer.byteLength(v).toLocaleString('en-US')} bytes of text; Klaviyo allows ${LIMITS.stringBytes.toLocaleString('en-US')} (100 KB) per string`);
      }
      return true;
    case 'number':
      w.maxBytes += 25;
      if (!Number.isFinite(v)) return fail(w, 'mapping_failed', `${where(w.path)} is ${v}, which JSON cannot carry`);
      if (Number.isInteger(v) && Math.abs(v) >= LIMITS.maxInteger) {
        return fail(w, 'integer_out_of_range', `${where(w.path)} is ${v}, beyond the 64-bit integers Klaviyo accepts`);
      }
      return true;
    case 'boolean':
      w.maxBytes += 5;
      return true;
    case 'object': {
      if (v === null) {
        w.maxBytes += 4;
        return true;
      }
      if (level > LIMITS.nestingDepth) {
        return fail(w, 'nesting_too_deep', `${where(w.path)} is nested ${level} levels deep (counting the properties object); Klaviyo allows ${LIMITS.nestingDepth}`);
      }
      w.maxBytes += 2;
      if (Array.isArray(v)) {
        if (v.length > LIMITS.arrayItems) {
          return fail(w, 'array_too_long', `${where(w.path)} has ${v.length.toLocaleString('en-US')} items; Klaviyo allows ${LIMITS.arrayItems.toLocaleString('en-US')} per array`);
        }
        for (let i = 0; i < v.length; i++) {
          w.path.push(i);
          const ok = visit(w, v[i], level + 1);
          w.path.pop();
          if (!ok) return false;
          w.maxBytes += 1;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        return fail(w, 'mapping_failed', `${where(w.path)} is a ${(v as object).constructor?.name ?? 'non-plain'} object, not a JSON value`);
      }
      for (const k in v) {
        if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
        w.maxBytes += 3 + k.length * 6;
        if (utf8Bytes(k) > LIMITS.stringBytes) {
          return fail(w, 'string_too_long', `a key under ${where(w.path)} (${describe(k)}) is longer than ${LIMITS.stringBytes.toLocaleString('en-US')} bytes`);
        }
        w.path.push(k);
        const ok = visit(w, (v as Record<string, unknown>)[k], level + 1);
        w.path.pop();
        if (!ok) return false;
      }
      return true;
    }
    default:
      return fail(w, 'mapping_failed', `${where(w.path)} is a ${typeof v}, not a JSON value`);
  }
}

/**
 * Walks property values once and returns the first broken limit, or null. Also returns an upper bound
 * of the JSON size of the properties (bytes, assuming worst-case escaping) so the caller serialises an
 * event only when it might come near the request limit.
 */
export function checkProperties(properties: Record<string, unknown>): { violation: LimitViolation | null; maxBytes: number } {
  const w: Walk = { maxBytes: 2, violation: null, path: [] };
  let count = 0;
  for (const k in properties) {
    if (!Object.prototype.hasOwnProperty.call(properties, k)) continue;
    count++;
    w.maxBytes += 3 + k.length * 6;
    w.path.push(k);
    if (utf8Bytes(k) > LIMITS.stringBytes) {
      fail(w, 'string_too_long', `the property name ${describe(k)} is longer than ${LIMITS.stringBytes.toLocaleString('en-US')} bytes`);
      break;
    }
    const ok = visit(w, properties[k], 2);
    w.path.pop();
    if (!ok) break;
  }
  if (!w.violation && count > LIMITS.propertyKeys) {
    w.violation = { reason: 'property_limit', detail: `${count} properties; Klaviyo accepts at most ${LIMITS.propertyKeys} per event (map fewer columns, or group some under a___b names)` };
  }
  return { violation: w.violation, maxBytes: w.maxBytes };
}

const ENVELOPE_BYTES = Buffer.byteLength(
  JSON.stringify({ data: { type: 'event-bulk-create-job', attributes: { 'events-bulk-create': { data: [{ type: 'event-bulk-create', attributes: { profile: { data: { type: 'profile', id: '', attributes: {} } }, events: { data: [] } } }] } } } }),
);

/**
 * Exact UTF-8 size of the smallest bulk request that carries this one event (envelope, its profile, the
 * event in wire form with `backfill`), as `loading/bulk.ts` builds it.
 */
export function singleEventRequestBytes(e: KlaviyoEvent): number {
  const { id: _id, ...attributes } = e.profile;
  return ENVELOPE_BYTES + Buffer.byteLength(JSON.stringify(attributes)) + Buffer.byteLength(e.profile.id ?? '') + Buffer.byteLength(JSON.stringify(wireEvent(e, true)));
}

/** UTF-8 size of the profile object as sent (`{"email":...,"phone_number":...,...}` plus the id). */
export function profileBytes(e: KlaviyoEvent): number {
  return Buffer.byteLength(JSON.stringify(e.profile));
}

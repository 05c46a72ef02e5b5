/**
 * Row-to-event mapping (DESIGN.md "Row to event rules" 1-8). Pure code: `compileMapper` resolves the
 * sync's mapping against the source columns once; `map` then turns each row into an event or a reject
 * without throwing.
 */
import { createHash } from 'node:crypto';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import { DateTime } from 'luxon';
import validator from 'validator';
import type { SyncConfig } from '../config/types.ts';
import type { ColumnKind, SourceColumn, SourceValue } from '../activities/warehouse/types.ts';
import type { KlaviyoEvent, MapResult, MapWarning, ProfileIdentifiers, Reject } from './types.ts';

/** Klaviyo ingestion limits (klaviyo-api.md "Validation and limits"). */
export const LIMITS = {
  metricNameChars: 127,
  uniqueIdChars: 255,
  emailChars: 100,
  /** Klaviyo documents 400, its rate-limit page says 300: stay under 300. */
  propertyKeys: 300,
  stringBytes: 100 * 1024,
  arrayItems: 4000,
  nestingDepth: 10,
  /** The whole request is 5 MB; a single event must leave room for the envelope. */
  eventBytes: 5 * 1024 * 1024 - 4096,
  /** Earliest accepted event time (revision 2026-07-15 accepts from 1990). */
  minTimeMs: Date.UTC(1990, 0, 1),
  /** Latest accepted event time: now + 1 year. */
  maxAheadMs: 365 * 24 * 3600 * 1000,
} as const;

/** A compiled mapping for one sync and one column layout. */
export interface RowMapper {
  /** Maps one row (values in `columns` order). Never throws. */
  map(row: readonly SourceValue[]): MapResult;
  /** Names of the columns that become properties. */
  readonly propertyColumns: readonly string[];
}

/** Raised by `compileMapper` when a mapped column is missing from the source or has an unusable type. */
export class MappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingError';
  }
}

const TS_KINDS = new Set<ColumnKind>(['timestamp_ntz', 'timestamp_tz', 'date', 'text']);

interface PropertySlot {
  index: number;
  kind: ColumnKind;
  /** Path of nested keys (`a___b` -> ['a', 'b']). */
  path: string[];
  name: string;
}

function isoFromWallClock(text: string, zone: string): number | null {
  if (zone === 'UTC') {
    const ms = Date.parse(text.length === 10 ? `${text}T00:00:00Z` : `${text.slice(0, 23)}Z`);
    return Number.isNaN(ms) ? null : ms;
  }
  const dt = DateTime.fromISO(text.length === 10 ? text : text.slice(0, 23), { zone });
  return dt.isValid ? dt.toMillis() : null;
}

/** Parses a text timestamp: ISO 8601 with or without zone, or `YYYY-MM-DD HH:MM:SS`. */
function parseTextTime(text: string, zone: string): number | null {
  const t = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}/.test(t)) return null;
  const dt = DateTime.fromISO(t.replace(' ', 'T'), { zone, setZone: false });
  return dt.isValid ? dt.toMillis() : null;
}

function timeMs(v: SourceValue, kind: ColumnKind, zone: string): number | null {
  if (typeof v !== 'string') return null;
  switch (kind) {
    case 'timestamp_tz': {
      const ms = Date.parse(`${v.slice(0, 23)}Z`);
      return Number.isNaN(ms) ? null : ms;
    }
    case 'timestamp_ntz':
    case 'date':
      return isoFromWallClock(v, zone);
    default:
      return parseTextTime(v, zone);
  }
}

/** Integral numbers without `.0`; text trimmed. */
function idText(v: SourceValue): string | null {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return null;
    return Number.isInteger(v) ? v.toFixed(0) : String(v);
  }
  if (typeof v === 'string') {
    let t = v.trim();
    if (/^-?\d+\.0+$/.test(t)) t = t.slice(0, t.indexOf('.'));
    return t === '' ? null : t;
  }
  if (typeof v === 'boolean') return null;
  return null;
}

function decimalNumber(v: SourceValue): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string') {
    const t = v.trim();
    if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) return null;
    const n = Number(t);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

function propertyValue(v: SourceValue, kind: ColumnKind): unknown {
  switch (kind) {
    case 'integer':
      return v; // number when safe, exact digit string beyond 2^53
    case 'decimal': {
      // A number when the double prints back as the same decimal, else the exact text.
      const n = Number(v);
      return String(n) === normaliseDecimal(v as string) ? n : v;
    }
    case 'timestamp_tz':
      return `${(v as string).slice(0, 23)}Z`;
    case 'timestamp_ntz':
      return v;
    case 'json':
    case 'text': {
      const s = v as string;
      const c = s.charCodeAt(0);
      if (c === 123 /* { */ || c === 91 /* [ */) {
        try {
          return JSON.parse(s);
        } catch {
          return s;
        }
      }
      if (kind === 'json') {
        try {
          return JSON.parse(s);
        } catch {
          return s;
        }
      }
      return s;
    }
    default:
      return v;
  }
}

/** `12.50` -> `12.5`, `-0.10` -> `-0.1`, `3.00` -> `3`: the shortest text of the same decimal. */
function normaliseDecimal(t: string): string {
  if (!t.includes('.')) return t.replace(/^(-?)0+(?=\d)/, '$1');
  let s = t.replace(/0+$/, '');
  if (s.endsWith('.')) s = s.slice(0, -1);
  s = s.replace(/^(-?)0+(?=\d)/, '$1');
  return s === '-0' ? '0' : s;
}

/**
 * Resolves the sync's mapping against the source columns.
 * Column names match exactly first, then case-insensitively (Snowflake upper-cases unquoted names).
 * @throws MappingError naming the missing column or the column of a wrong type.
 */
export function compileMapper(sync: SyncConfig, columns: readonly SourceColumn[], nowMs: () => number = Date.now): RowMapper {
  const find = (name: string, role: string): number => {
    let i = columns.findIndex((c) => c.name === name);
    if (i < 0) i = columns.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
    if (i < 0) throw new MappingError(`column "${name}" mapped as ${role} does not exist in ${sync.source.table} (columns: ${columns.map((c) => c.name).join(', ')})`);
    return i;
  };
  const m = sync.mapping;
  const zone = sync.options.timestamp_zone;
  const region = sync.options.default_phone_region as CountryCode;
  const mapped = new Set<number>();
  const use = (name: string | undefined, role: string): number | undefined => {
    if (name === undefined) return undefined;
    const i = find(name, role);
    mapped.add(i);
    return i;
  };
  const metricIdx = use(sync.metric.column, 'metric');
  const timeIdx = use(m.event_timestamp, 'event_timestamp')!;
  const changeIdx = use(m.change_timestamp, 'change_timestamp')!;
  const uniqueIdx = use(m.unique_id, 'unique_id');
  const valueIdx = use(m.value, 'value');
  const currencyIdx = use(m.value_currency, 'value_currency');
  const emailIdx = use(m.profile.email, 'profile.email');
  const phoneIdx = use(m.profile.phone_number, 'profile.phone_number');
  const externalIdx = use(m.profile.external_id, 'profile.external_id');
  const klaviyoIdx = use(m.profile.klaviyo_id, 'profile.klaviyo_id');
  for (const [idx, role] of [[timeIdx, 'event_timestamp'], [changeIdx, 'change_timestamp']] as const) {
    if (!TS_KINDS.has(columns[idx].kind)) {
      throw new MappingError(`column "${columns[idx].name}" mapped as ${role} has type ${columns[idx].sqlType}; a timestamp, date or ISO 8601 text is needed`);
    }
  }
  const timeCol = columns[timeIdx];
  const props: PropertySlot[] = [];
  columns.forEach((c, index) => {
    if (!mapped.has(index)) props.push({ index, kind: c.kind, name: c.name, path: c.name.split('___') });
  });
  const constantMetric = sync.metric.name;
  const syncName = sync.name;

  function uniqueKey(row: readonly SourceValue[]): string {
    if (uniqueIdx !== undefined) {
      const t = idText(row[uniqueIdx]);
      if (t !== null) return t;
    }
    const h = createHash('sha256');
    h.update(syncName);
    for (let i = 0; i < row.length; i++) {
      if (i === changeIdx) continue; // a re-written row with the same content is the same event
      const v = row[i];
      h.update('\u0000');
      h.update(v === null ? '\u0001' : typeof v === 'object' ? JSON.stringify(v) : String(v));
    }
    return h.digest('base64url');
  }

  function map(row: readonly SourceValue[]): MapResult {
    let key = '';
    try {
      key = uniqueKey(row);
      const reject = (r: Reject): MapResult => ({ ok: false, key, reject: r });
      // 1. metric
      let metric = constantMetric;
      if (metricIdx !== undefined) {
        const v = row[metricIdx];
        metric = v === null ? undefined : String(v).trim();
        if (!metric) return reject({ reason: 'missing_metric', column: columns[metricIdx].name, detail: 'metric name is empty or NULL' });
      }
      if (metric!.length > LIMITS.metricNameChars) {
        return reject({ reason: 'metric_too_long', column: sync.metric.column, detail: `metric name has ${metric!.length} characters; Klaviyo allows ${LIMITS.metricNameChars}` });
      }
      // 2. time
      const tv = row[timeIdx];
      if (tv === null) return reject({ reason: 'invalid_timestamp', column: timeCol.name, detail: 'event timestamp is NULL' });
      const ms = timeMs(tv, timeCol.kind, zone);
      if (ms === null) return reject({ reason: 'invalid_timestamp', column: timeCol.name, detail: `cannot read "${String(tv)}" as a timestamp` });
      if (ms < LIMITS.minTimeMs || ms > nowMs() + LIMITS.maxAheadMs) {
        return reject({ reason: 'timestamp_out_of_range', column: timeCol.name, detail: `${new Date(ms).toISOString()} is outside Klaviyo's accepted range (1990-01-01 to now + 1 year)` });
      }
      // 3. profile
      const profile: ProfileIdentifiers = {};
      let warnings: MapWarning[] | undefined;
      const warn = (reason: string, column: string) => (warnings ??= []).push({ reason, column });
      let firstBad: Reject | undefined;
      if (emailIdx !== undefined && row[emailIdx] !== null) {
        const e = String(row[emailIdx]).trim();
        if (e !== '' && e.length < LIMITS.emailChars && validator.isEmail(e)) profile.email = e;
        else if (e !== '') {
          warn('invalid_email', columns[emailIdx].name);
          firstBad ??= { reason: 'invalid_email', column: columns[emailIdx].name, detail: `"${e}" is not a valid email address` };
        }
      }
      if (phoneIdx !== undefined && row[phoneIdx] !== null) {
        const raw = String(row[phoneIdx]).trim();
        if (raw !== '') {
          const p = parsePhoneNumberFromString(raw, region);
          if (p && p.isValid()) profile.phone_number = p.number;
          else {
            warn('invalid_phone', columns[phoneIdx].name);
            firstBad ??= { reason: 'invalid_phone', column: columns[phoneIdx].name, detail: `"${raw}" is not a valid phone number (default region ${region})` };
          }
        }
      }
      if (externalIdx !== undefined && row[externalIdx] !== null) {
        const t = idText(row[externalIdx]);
        if (t !== null) profile.external_id = t;
      }
      if (klaviyoIdx !== undefined && row[klaviyoIdx] !== null) {
        const t = idText(row[klaviyoIdx]);
        if (t !== null) profile.id = t;
      }
      if (!profile.email && !profile.phone_number && !profile.external_id && !profile.id) {
        return reject(firstBad ?? { reason: 'missing_identifier', detail: 'no profile identifier: every mapped identifier column is NULL or empty' });
      }
      // 4. unique_id
      if (key.length > LIMITS.uniqueIdChars) {
        return reject({ reason: 'invalid_unique_id', column: m.unique_id, detail: `unique_id has ${key.length} characters; Klaviyo allows ${LIMITS.uniqueIdChars}` });
      }
      const event: KlaviyoEvent = { metric: metric!, time: new Date(ms).toISOString(), profile, unique_id: key, properties: {} };
      // 5. value and currency
      if (valueIdx !== undefined && row[valueIdx] !== null) {
        const n = decimalNumber(row[valueIdx]);
        if (n === null) return reject({ reason: 'invalid_value', column: columns[valueIdx].name, detail: `"${String(row[valueIdx])}" is not a number` });
        event.value = n;
      }
      if (currencyIdx !== undefined && row[currencyIdx] !== null) {
        const c = String(row[currencyIdx]).trim().toUpperCase();
        if (!validator.isISO4217(c)) return reject({ reason: 'invalid_currency', column: columns[currencyIdx].name, detail: `"${String(row[currencyIdx])}" is not an ISO 4217 currency code` });
        event.value_currency = c;
      }
      // 6. properties
      const properties = event.properties;
      let count = 0;
      for (let i = 0; i < props.length; i++) {
        const p = props[i];
        const v = row[p.index];
        if (v === null) continue;
        const pv = propertyValue(v, p.kind);
        if (p.path.length === 1) properties[p.name] = pv;
        else {
          let obj = properties as Record<string, unknown>;
          for (let k = 0; k < p.path.length - 1; k++) {
            const next = obj[p.path[k]];
            if (next === undefined || typeof next !== 'object' || next === null || Array.isArray(next)) obj = obj[p.path[k]] = {};
            else obj = next as Record<string, unknown>;
          }
          obj[p.path[p.path.length - 1]] = pv;
        }
        count++;
      }
      if (count > LIMITS.propertyKeys) {
        return reject({ reason: 'property_limit', detail: `${count} properties; the limit is ${LIMITS.propertyKeys}` });
      }
      return warnings ? { ok: true, key, event, warnings } : { ok: true, key, event };
    } catch (e) {
      return { ok: false, key: key || 'unknown', reject: { reason: 'invalid_value', detail: `unexpected value: ${(e as Error).message}` } };
    }
  }

  return { map, propertyColumns: props.map((p) => p.name) };
}

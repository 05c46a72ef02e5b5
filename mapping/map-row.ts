/**
 * Row-to-event mapping (DESIGN.md "Row to event rules" 1-8; the decisions are written down in
 * `mapping/README.md`). Pure code: `compileMapper` resolves the sync's mapping against the source
 * columns once and builds one converter per column; `map` then turns each row into an event or a reject
 * with a stable reason code and the column concerned. It never throws.
 */
import type { CountryCode } from 'libphonenumber-js/max';
import type { SyncConfig } from '../config/types.ts';
import type { ColumnKind, SourceColumn, SourceValue } from '../activities/warehouse/types.ts';
import { idText, normalizeEmail, normalizeExternalId, normalizePhone, normalizeProfileId } from './identifiers.ts';
import { checkProperties, LIMITS, singleEventRequestBytes } from './limits.ts';
import { exactNumber } from './numbers.ts';
import { propertyConverter, setOwn, type PropertyConverter } from './properties.ts';
import { EVENT_TIME_KINDS, formatEventTime, timeReader, ZoneClock } from './time.ts';
import type { KlaviyoEvent, MapResult, MapWarning, ProfileIdentifiers, Reject, RejectReason } from './types.ts';
import { derivedUniqueId } from './unique-id.ts';
import validator from 'validator';

export { LIMITS } from './limits.ts';

/** A compiled mapping for one sync and one column layout. */
export interface RowMapper {
  /** Maps one row (values in `columns` order, see `ColumnKind`). Never throws. */
  map(row: readonly SourceValue[]): MapResult;
  /** Names of the columns that become properties, in column order. */
  readonly propertyColumns: readonly string[];
}

/** Raised by `compileMapper` when the sync does not fit the source: retrying will not help. */
export class MappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingError';
  }
}

/** Nested property paths: `a___b___c` -> `{a: {b: {c: v}}}` (three underscores). */
export const NESTING_SEPARATOR = '___';

interface PropertySlot {
  index: number;
  name: string;
  /** Top-level key. */
  key: string;
  /** Keys below the top level (`a___b___c` -> ['b', 'c']), empty for a flat property. */
  rest: string[];
  /** A key of the path is `__proto__` or inherited from Object.prototype (`constructor`, `toString`): write with own-property checks. */
  careful: boolean;
  convert: PropertyConverter;
}

/** The nested write for names such as `a___constructor___b` or `__proto__`, without touching prototypes. */
function writeCarefully(properties: Record<string, unknown>, p: PropertySlot, value: unknown): void {
  const path = [p.key, ...p.rest];
  let obj = properties;
  for (let k = 0; k < path.length - 1; k++) {
    const key = path[k];
    let next = Object.prototype.hasOwnProperty.call(obj, key) ? (obj[key] as Record<string, unknown>) : undefined;
    if (next === undefined) {
      next = {};
      setOwn(obj, key, next);
    }
    obj = next;
  }
  setOwn(obj, path[path.length - 1], value);
}

/** `"abc"` for a short value, the first 60 characters and `...` for a long one. */
function show(v: SourceValue): string {
  let s: string;
  if (typeof v === 'string') s = v;
  else {
    try {
      s = typeof v === 'object' ? (JSON.stringify(v) ?? String(v)) : String(v);
    } catch {
      s = String(v);
    }
  }
  return s.length > 60 ? `${JSON.stringify(s.slice(0, 60))}...` : JSON.stringify(s);
}

function rejected(key: string, reason: RejectReason, column: string | undefined, detail: string): MapResult {
  return { ok: false, key, reject: { reason, column, detail } };
}

const currencies = new Map<string, string | null | false>();

/** A currency text trimmed and upper-cased if it is an ISO 4217 code (validator), null when blank, else false. */
function currencyCode(v: string): string | null | false {
  let c = currencies.get(v);
  if (c === undefined) {
    const t = v.trim().toUpperCase();
    c = t === '' ? null : validator.isISO4217(t) ? t : false;
    if (currencies.size >= 1000) currencies.clear();
    currencies.set(v, c);
  }
  return c;
}

function chars(s: string): number {
  // Code points, counted only when UTF-16 units could overstate them.
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function scalarText(v: SourceValue): string | null {
  const t = idText(v);
  return typeof t === 'string' ? t : null;
}

/**
 * Resolves the sync's mapping against the source columns and precompiles a converter per column.
 * Column names match exactly first, then case-insensitively (Snowflake upper-cases unquoted names).
 * @param nowMs clock for the "not after now + 1 year" rule (epoch ms; injectable for tests)
 * @throws MappingError naming the column when a mapped column is missing or of an unusable type, when
 *   two columns would write the same property, or when the sync's zone or phone region is invalid.
 */
export function compileMapper(sync: SyncConfig, columns: readonly SourceColumn[], nowMs: () => number = Date.now): RowMapper {
  const table = sync.source.table;
  const find = (name: string, role: string): number => {
    let i = columns.findIndex((c) => c.name === name);
    if (i < 0) i = columns.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
    if (i < 0) throw new MappingError(`column "${name}" mapped as ${role} does not exist in ${table} (columns: ${columns.map((c) => c.name).join(', ')})`);
    return i;
  };
  const m = sync.mapping;
  let clock: ZoneClock;
  try {
    clock = new ZoneClock(sync.options.timestamp_zone);
  } catch (e) {
    throw new MappingError(`options.timestamp_zone of sync ${sync.name}: ${(e as Error).message}`);
  }
  const region = sync.options.default_phone_region as CountryCode;
  if (m.profile.phone_number !== undefined && !validator.isISO31661Alpha2(region)) throw new MappingError(`options.default_phone_region of sync ${sync.name}: "${region}" is not an ISO 3166-1 alpha-2 region (e.g. US, GB)`);

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
  const normalizers = {
    email: normalizeEmail,
    phone_number: (v: SourceValue) => normalizePhone(v, region),
    external_id: normalizeExternalId,
    id: normalizeProfileId,
  } as const;
  const ids: { idx: number; kind: 'email' | 'phone_number' | 'external_id' | 'id'; normalize: (v: SourceValue) => string | null | false }[] = [];
  for (const [key, kind] of [['email', 'email'], ['phone_number', 'phone_number'], ['external_id', 'external_id'], ['klaviyo_id', 'id']] as const) {
    const idx = use(m.profile[key], `profile.${key}`);
    if (idx !== undefined) ids.push({ idx, kind, normalize: normalizers[kind] });
  }
  if (ids.length === 0) throw new MappingError(`sync ${sync.name} maps no profile identifier (email, phone_number, external_id or klaviyo_id)`);
  if (timeIdx === changeIdx) throw new MappingError(`event_timestamp and change_timestamp of sync ${sync.name} are the same column "${columns[timeIdx].name}"; they must differ`);
  const timeCol = columns[timeIdx];
  if (!EVENT_TIME_KINDS.has(timeCol.kind)) {
    throw new MappingError(`column "${timeCol.name}" mapped as event_timestamp has type ${timeCol.sqlType}; a TIMESTAMP, DATE or ISO 8601 text column is needed (convert epoch numbers in a view, e.g. TO_TIMESTAMP(col))`);
  }
  const changeCol = columns[changeIdx];
  const changeKinds: ColumnKind[] = ['timestamp_ntz', 'timestamp_tz', 'date', 'text', 'other'];
  if (!changeKinds.includes(changeCol.kind)) {
    throw new MappingError(`column "${changeCol.name}" mapped as change_timestamp has type ${changeCol.sqlType}; a TIMESTAMP or DATE column is needed`);
  }

  // Properties: every other column, nested by `___`, with conflicts found now rather than per row.
  const props: PropertySlot[] = [];
  const owners = new Map<string, string>(); // full path -> column
  columns.forEach((c, index) => {
    if (mapped.has(index)) return;
    const parts = c.name.split(NESTING_SEPARATOR);
    const path = parts.some((p) => p === '') ? [c.name] : parts;
    if (path.length > LIMITS.nestingDepth) {
      throw new MappingError(`column "${c.name}" nests ${path.length} levels by "${NESTING_SEPARATOR}"; Klaviyo accepts at most ${LIMITS.nestingDepth} levels of properties (rename the column in a view)`);
    }
    const full = path.join('\u0000');
    for (const [other, col] of owners) {
      if (other === full || other.startsWith(`${full}\u0000`) || full.startsWith(`${other}\u0000`)) {
        throw new MappingError(`columns "${col}" and "${c.name}" of ${table} would both write property "${path.join('.')}"; rename one of them in a view`);
      }
    }
    owners.set(full, c.name);
    const careful = path.some((k) => k === '__proto__' || k in Object.prototype);
    props.push({ index, name: c.name, key: path[0], rest: path.slice(1), careful, convert: propertyConverter(c.kind, clock) });
  });
  const keyColumns = new Map<string, string[]>();
  for (const p of props) keyColumns.set(p.key, [...(keyColumns.get(p.key) ?? []), p.name]);

  const readTime = timeReader(timeCol.kind, clock);
  const constantMetric = sync.metric.name;
  const metricCol = metricIdx === undefined ? undefined : columns[metricIdx].name;
  const derivedId = derivedUniqueId(sync.name, columns, new Set([changeIdx]));
  const idColumns = ids.map((i) => columns[i.idx].name);
  const idColumnList = idColumns.join(', ');
  const invalidReason = { email: 'invalid_email', phone_number: 'invalid_phone', external_id: 'invalid_external_id', id: 'invalid_profile_id' } as const;
  const invalidDetail = {
    email: (v: SourceValue) =>
      typeof v === 'string' && v.trim().length > LIMITS.emailChars
        ? `${show(v)} has ${v.trim().length} characters; Klaviyo accepts emails under 100`
        : `${show(v)} is not a valid email address`,
    phone_number: (v: SourceValue) => `${show(v)} is not a valid phone number for default region ${region} (E.164 needed)`,
    external_id: (v: SourceValue) => `${show(v)} cannot be an external_id (not text or a finite number, or over 94 KB)`,
    id: (v: SourceValue) => `${show(v)} is not a Klaviyo profile id (a 26-character ULID such as 01GDDKASAP8TKDDA2GRZDSVP4H)`,
  } as const;

  function map(row: readonly SourceValue[]): MapResult {
    let key = '';
    try {
      // 4 (first, as it is the row's key in rejects). unique_id: the column, else the derived hash.
      let warnings: MapWarning[] | undefined;
      let uniqueReject: Reject | undefined;
      if (uniqueIdx !== undefined) {
        const raw = row[uniqueIdx];
        const t = idText(raw);
        if (typeof t === 'string') {
          if (t.length > LIMITS.uniqueIdChars && chars(t) > LIMITS.uniqueIdChars) {
            uniqueReject = { reason: 'invalid_unique_id', column: columns[uniqueIdx].name, detail: `unique_id ${show(raw)} has ${chars(t)} characters; Klaviyo accepts 1 to ${LIMITS.uniqueIdChars}` };
          } else key = t;
        } else if (t === false) {
          uniqueReject = { reason: 'invalid_unique_id', column: columns[uniqueIdx].name, detail: `unique_id ${show(raw)} is not usable as an id` };
        } else {
          (warnings ??= []).push({ reason: 'missing_unique_id', column: columns[uniqueIdx].name, detail: 'unique_id is NULL or empty: the derived content hash was sent instead' });
        }
      }
      if (key === '') key = derivedId(row);

      // Pitfall 9: a NULL change timestamp has no place in the incremental order.
      if (row[changeIdx] === null || row[changeIdx] === undefined) {
        return rejected(key, 'null_change_timestamp', changeCol.name, `change timestamp column "${changeCol.name}" is NULL: the row has no place in the incremental order and is not loaded`);
      }

      // 1. metric
      let metric: string;
      if (metricIdx !== undefined) {
        const t = scalarText(row[metricIdx]);
        if (t === null) return rejected(key, 'missing_metric', metricCol, `metric name in "${metricCol}" is NULL or empty`);
        metric = t;
      } else metric = constantMetric!;
      if (metric.length > LIMITS.metricNameChars && chars(metric) > LIMITS.metricNameChars) {
        return rejected(key, 'metric_too_long', metricCol, `metric name ${show(metric)} has ${chars(metric)} characters; Klaviyo accepts 1 to ${LIMITS.metricNameChars}`);
      }

      // 2. event time
      const tv = row[timeIdx];
      if (tv === null || tv === undefined) return rejected(key, 'invalid_timestamp', timeCol.name, `event timestamp "${timeCol.name}" is NULL`);
      const ms = readTime(tv);
      if (Number.isNaN(ms)) {
        return rejected(key, 'invalid_timestamp', timeCol.name, `${show(tv)} is not a timestamp (expected ISO 8601 such as 2024-05-01T10:00:00Z, 2024-05-01 10:00:00 or 2024-05-01)`);
      }
      const now = nowMs();
      if (ms < LIMITS.minTimeMs || ms > now + LIMITS.maxAheadMs) {
        const when = ms >= -62_135_596_800_000 && ms <= 253_402_300_799_999 ? formatEventTime(ms) : show(tv);
        return rejected(key, 'timestamp_out_of_range', timeCol.name, `event time ${when} is outside what Klaviyo accepts (1990-01-01T00:00:00Z to now + 1 year, ${formatEventTime(now + LIMITS.maxAheadMs)})`);
      }

      // 3. profile: every valid identifier; invalid ones dropped with a warning.
      const profile: ProfileIdentifiers = {};
      let any = false;
      let firstBad: { reason: RejectReason; column: string; detail: string } | undefined;
      for (let i = 0; i < ids.length; i++) {
        const { idx, kind, normalize } = ids[i];
        const v = row[idx];
        if (v === null || v === undefined) continue;
        const r = normalize(v);
        if (typeof r === 'string') {
          profile[kind] = r;
          any = true;
        } else if (r === false) {
          const column = columns[idx].name;
          const detail = invalidDetail[kind](v);
          firstBad ??= { reason: invalidReason[kind], column, detail };
          (warnings ??= []).push({ reason: invalidReason[kind], column, detail });
        }
      }
      if (!any) {
        if (firstBad) {
          const others = warnings!.filter((w) => w.reason !== 'missing_unique_id').length - 1;
          return rejected(key, firstBad.reason, firstBad.column, `${firstBad.detail}; no other valid profile identifier${others > 0 ? ` (${others} more invalid)` : ''}`);
        }
        return rejected(key, 'missing_identifier', idColumnList, `no profile identifier: ${idColumns.length === 1 ? `"${idColumnList}" is` : `${idColumns.map((c) => `"${c}"`).join(', ')} are all`} NULL or empty`);
      }
      if (uniqueReject) return { ok: false, key, reject: uniqueReject };

      const event: KlaviyoEvent = { metric, time: formatEventTime(ms), profile, unique_id: key, properties: {} };

      // 5. value (exact) and currency (ISO 4217)
      if (valueIdx !== undefined) {
        const v = row[valueIdx];
        if (v !== null && v !== undefined) {
          const col = columns[valueIdx].name;
          if (typeof v === 'number') {
            if (!Number.isFinite(v)) return rejected(key, 'invalid_value', col, `value ${show(v)} is not a finite number`);
            event.value = v === 0 ? 0 : v;
          } else if (typeof v === 'string') {
            const t = v.trim();
            if (t !== '') {
              const n = exactNumber(t);
              if (n === undefined) {
                const approx = Number(t);
                if (Number.isFinite(approx) && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) {
                  return rejected(key, 'inexact_value', col, `value ${show(v)} cannot be sent as a JSON number without changing it (the nearest is ${approx}); round it in the source, e.g. ROUND(${col}, 2), or cast it to DOUBLE to accept the nearest number`);
                }
                return rejected(key, 'invalid_value', col, `value ${show(v)} is not a number (plain decimal needed: no currency signs or thousands separators)`);
              }
              event.value = n;
            }
          } else {
            return rejected(key, 'invalid_value', col, `value ${show(v)} is not a number`);
          }
        }
      }
      if (currencyIdx !== undefined) {
        const v = row[currencyIdx];
        if (v !== null && v !== undefined) {
          const col = columns[currencyIdx].name;
          if (typeof v !== 'string') return rejected(key, 'invalid_currency', col, `value_currency ${show(v)} is not an ISO 4217 currency code`);
          const c = currencyCode(v);
          if (c === false) return rejected(key, 'invalid_currency', col, `value_currency ${show(v)} is not an ISO 4217 currency code (e.g. USD, EUR, GBP)`);
          if (c !== null) event.value_currency = c;
        }
      }

      // 6. properties
      const properties = event.properties;
      for (let i = 0; i < props.length; i++) {
        const p = props[i];
        const v = row[p.index];
        if (v === null || v === undefined) continue;
        const pv = p.convert(v);
        if (pv === undefined) continue;
        if (p.careful) {
          writeCarefully(properties, p, pv);
          continue;
        }
        if (p.rest.length === 0) {
          properties[p.key] = pv;
          continue;
        }
        let obj = (properties[p.key] ??= {}) as Record<string, unknown>;
        for (let k = 0; k < p.rest.length - 1; k++) obj = (obj[p.rest[k]] ??= {}) as Record<string, unknown>;
        obj[p.rest[p.rest.length - 1]] = pv;
      }

      // 7. Klaviyo's limits
      const { violation, maxBytes } = checkProperties(properties);
      if (violation) {
        const cols = violation.key === undefined ? undefined : keyColumns.get(violation.key);
        return rejected(key, violation.reason, violation.reason === 'property_limit' ? undefined : cols?.join(', '), violation.detail);
      }
      // Upper bound of the request for this event alone (worst-case JSON escaping); exact only when near.
      const bound = maxBytes + 6 * (metric.length + key.length + (profile.external_id?.length ?? 0)) + 4096;
      if (bound > LIMITS.requestBytes) {
        const bytes = singleEventRequestBytes(event);
        if (bytes > LIMITS.requestBytes) {
          return rejected(key, 'payload_too_large', undefined, `the event needs a ${bytes.toLocaleString('en-US')}-byte request; Klaviyo accepts at most ${LIMITS.requestBytes.toLocaleString('en-US')} (5 MB)`);
        }
      }
      return warnings ? { ok: true, key, event, warnings } : { ok: true, key, event };
    } catch (e) {
      return { ok: false, key: key || 'unknown', reject: { reason: 'mapping_failed', detail: `unexpected value in the row: ${(e as Error).message}` } };
    }
  }

  return { map, propertyColumns: props.map((p) => p.name) };
}

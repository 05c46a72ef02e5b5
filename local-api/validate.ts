/**
 * Validation of request bodies as Klaviyo documents it (klaviyo-api.md "Bulk body shape", "Validation
 * and limits"), producing Klaviyo-style error objects whose `source.pointer` names the offending item,
 * e.g. `/data/attributes/events-bulk-create/data/3/attributes/events/data/0/attributes/time`.
 */

/** A Klaviyo-style error object (`{"errors": [ApiError, ...]}`). */
export interface ApiError {
  id: string;
  status: number;
  code: string;
  title: string;
  detail: string;
  source: { pointer?: string; parameter?: string; header?: string };
}

let errorSeq = 0;
/** Builds an error object. */
export function apiError(status: number, code: string, title: string, detail: string, source: ApiError['source']): ApiError {
  errorSeq = (errorSeq + 1) % 1e9;
  return { id: `local-${Date.now().toString(36)}-${errorSeq}`, status, code, title, detail, source };
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const E164 = /^\+[1-9]\d{6,14}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;
const CURRENCY = /^[A-Z]{3}$/;

/** Klaviyo's documented limits on one event (klaviyo-api.md "Validation and limits"). */
export const EVENT_LIMITS = {
  metricNameMax: 127,
  uniqueIdMax: 255,
  emailMaxExclusive: 100,
  propertiesMax: 400,
  stringMaxBytes: 100 * 1024,
  arrayMax: 4000,
  depthMax: 10,
  profileMaxBytes: 95 * 1024,
  eventsPerBulk: 1000,
} as const;

/** Revision from which `backfill` is accepted and event times back to 1990 are allowed. */
export const BACKFILL_REVISION = '2026-04-15';
export const EARLY_TIME_REVISION = '2026-07-15';

/** Profile identifiers as sent. */
export interface ProfileIds {
  id?: string;
  email?: string;
  phone_number?: string;
  external_id?: string;
}

/** Validated content of one event. */
export interface ValidEvent {
  profile: ProfileIds;
  metric: string;
  /** ISO time as sent (or the server's now when absent). */
  time: string;
  unique_id?: string;
  value?: number;
  value_currency?: string;
  backfill: boolean;
  properties: Record<string, unknown>;
  /** Pointer of the event's attributes in the request (for errors found later, e.g. duplicates). */
  pointer: string;
}

/** What the rules depend on besides the body. */
export interface ValidationContext {
  /** The server's clock, epoch ms ("not after now + 1 year"). */
  nowMs: number;
  /** The request's `revision` header. */
  revision: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const invalid = (errors: ApiError[], pointer: string, detail: string) => errors.push(apiError(400, 'invalid', 'Invalid input.', detail, { pointer }));

const escapeSegment = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Checks property values against the limits (string size, array length, nesting, 64-bit integers).
 * `path` holds the segments below `base`; the pointer string is only built for an error.
 */
function pointerOf(base: string, path: (string | number)[]): string {
  let s = base;
  for (const p of path) s += `/${typeof p === 'number' ? p : escapeSegment(p)}`;
  return s;
}

function checkValue(v: unknown, depth: number, base: string, path: (string | number)[], errors: ApiError[]): void {
  if (typeof v === 'string') {
    if (v.length * 3 > EVENT_LIMITS.stringMaxBytes && Buffer.byteLength(v) > EVENT_LIMITS.stringMaxBytes) invalid(errors, pointerOf(base, path), 'A string value exceeds 100 KB.');
  } else if (typeof v === 'number') {
    if (Number.isInteger(v) && Math.abs(v) >= 2 ** 63) invalid(errors, pointerOf(base, path), 'Integers must fit in 64 bits.');
  } else if (Array.isArray(v)) {
    if (v.length > EVENT_LIMITS.arrayMax) invalid(errors, pointerOf(base, path), `An array has more than ${EVENT_LIMITS.arrayMax} items.`);
    else if (depth >= EVENT_LIMITS.depthMax) invalid(errors, pointerOf(base, path), `Properties are nested deeper than ${EVENT_LIMITS.depthMax} levels.`);
    else {
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (typeof x === 'object' && x !== null) {
          path.push(i);
          checkValue(x, depth + 1, base, path, errors);
          path.pop();
        } else if (typeof x === 'string' || typeof x === 'number') {
          path.push(i);
          checkValue(x, depth + 1, base, path, errors);
          path.pop();
        }
      }
    }
  } else if (isObject(v)) {
    if (depth >= EVENT_LIMITS.depthMax) invalid(errors, pointerOf(base, path), `Properties are nested deeper than ${EVENT_LIMITS.depthMax} levels.`);
    else {
      for (const k in v) {
        const x = v[k];
        if (typeof x === 'boolean' || x === null || x === undefined) continue;
        if (typeof x === 'string' && x.length * 3 <= EVENT_LIMITS.stringMaxBytes) continue;
        if (typeof x === 'number' && !(Math.abs(x) >= 2 ** 63)) continue;
        path.push(k);
        checkValue(x, depth + 1, base, path, errors);
        path.pop();
      }
    }
  }
}

/** Validates a profile resource object (`{type: 'profile', id?, attributes: {...}}`). */
export function validateProfile(data: unknown, pointer: string, errors: ApiError[]): ProfileIds | null {
  const before = errors.length;
  if (!isObject(data) || data.type !== 'profile') {
    invalid(errors, pointer, "A profile resource object with type 'profile' is required.");
    return null;
  }
  const profile: ProfileIds = {};
  if (data.id !== undefined && data.id !== null) {
    if (typeof data.id !== 'string' || data.id === '') invalid(errors, `${pointer}/id`, 'The profile id must be a non-empty string.');
    else profile.id = data.id;
  }
  const pa = data.attributes;
  if (pa !== undefined && !isObject(pa)) invalid(errors, `${pointer}/attributes`, 'Profile attributes must be an object.');
  const a = isObject(pa) ? pa : {};
  let approx = 0;
  for (const k in a) approx += k.length + (typeof a[k] === 'string' ? (a[k] as string).length : 64);
  if (approx * 3 > EVENT_LIMITS.profileMaxBytes && Buffer.byteLength(JSON.stringify(a)) > EVENT_LIMITS.profileMaxBytes) {
    invalid(errors, `${pointer}/attributes`, 'The profile object exceeds 95 KB.');
  }
  if (a.email !== undefined && a.email !== null) {
    if (typeof a.email !== 'string' || !EMAIL.test(a.email) || a.email.length >= EVENT_LIMITS.emailMaxExclusive) {
      invalid(errors, `${pointer}/attributes/email`, `Invalid email address: ${String(a.email).slice(0, 120)}`);
    } else profile.email = a.email;
  }
  if (a.phone_number !== undefined && a.phone_number !== null) {
    if (typeof a.phone_number !== 'string' || !E164.test(a.phone_number)) {
      invalid(errors, `${pointer}/attributes/phone_number`, `Invalid phone number format (Example of a valid format: +13239169023): ${String(a.phone_number).slice(0, 40)}`);
    } else profile.phone_number = a.phone_number;
  }
  if (a.external_id !== undefined && a.external_id !== null) {
    if (typeof a.external_id !== 'string' || a.external_id === '') invalid(errors, `${pointer}/attributes/external_id`, 'external_id must be a non-empty string.');
    else profile.external_id = a.external_id;
  }
  if (errors.length > before) return null;
  if (!profile.id && !profile.email && !profile.phone_number && !profile.external_id) {
    invalid(errors, `${pointer}/attributes`, 'At least one profile identifier (id, email, phone_number, external_id) is required.');
    return null;
  }
  return profile;
}

/**
 * Validates the attributes of one event (a bulk entry's event, or a single create's attributes).
 * @returns the event without its profile, or null after pushing errors.
 */
export function validateEventAttributes(attrs: unknown, pointer: string, ctx: ValidationContext, errors: ApiError[]): Omit<ValidEvent, 'profile'> | null {
  const before = errors.length;
  if (!isObject(attrs)) {
    invalid(errors, pointer, 'Event attributes are required.');
    return null;
  }
  const metric = attrs.metric;
  const metricName = isObject(metric) && isObject(metric.data) && metric.data.type === 'metric' && isObject(metric.data.attributes) ? metric.data.attributes.name : undefined;
  if (typeof metricName !== 'string' || metricName.length < 1 || metricName.length > EVENT_LIMITS.metricNameMax) {
    invalid(errors, `${pointer}/metric/data/attributes/name`, `A metric name of 1 to ${EVENT_LIMITS.metricNameMax} characters is required.`);
  }
  if (!isObject(attrs.properties)) invalid(errors, `${pointer}/properties`, 'properties is required and must be an object.');
  else {
    if (Object.keys(attrs.properties).length > EVENT_LIMITS.propertiesMax) invalid(errors, `${pointer}/properties`, `An event may have at most ${EVENT_LIMITS.propertiesMax} properties.`);
    checkValue(attrs.properties, 0, `${pointer}/properties`, [], errors);
  }
  let time = new Date(ctx.nowMs).toISOString();
  if (attrs.time !== undefined && attrs.time !== null) {
    if (typeof attrs.time !== 'string' || !RFC3339.test(attrs.time) || Number.isNaN(Date.parse(attrs.time))) {
      invalid(errors, `${pointer}/time`, `Invalid datetime (an ISO 8601 time with a zone is required): ${String(attrs.time).slice(0, 60)}`);
    } else {
      const ms = Date.parse(attrs.time);
      const earliest = ctx.revision >= EARLY_TIME_REVISION ? Date.UTC(1990, 0, 1) : Date.UTC(2000, 0, 1);
      if (ms < earliest) invalid(errors, `${pointer}/time`, `Event time must not be before ${new Date(earliest).toISOString().slice(0, 10)}.`);
      else if (ms > ctx.nowMs + 365 * 24 * 3600 * 1000) invalid(errors, `${pointer}/time`, 'Event time must not be more than one year in the future.');
      time = attrs.time;
    }
  }
  if (attrs.unique_id !== undefined && attrs.unique_id !== null) {
    if (typeof attrs.unique_id !== 'string' || attrs.unique_id.length < 1 || attrs.unique_id.length > EVENT_LIMITS.uniqueIdMax) {
      invalid(errors, `${pointer}/unique_id`, `unique_id must be a string of 1 to ${EVENT_LIMITS.uniqueIdMax} characters.`);
    }
  }
  if (attrs.value !== undefined && attrs.value !== null && (typeof attrs.value !== 'number' || !Number.isFinite(attrs.value))) invalid(errors, `${pointer}/value`, 'value must be a number.');
  if (attrs.value_currency !== undefined && attrs.value_currency !== null && (typeof attrs.value_currency !== 'string' || !CURRENCY.test(attrs.value_currency))) {
    invalid(errors, `${pointer}/value_currency`, 'value_currency must be an ISO 4217 currency code.');
  }
  if (attrs.backfill !== undefined && attrs.backfill !== null) {
    if (typeof attrs.backfill !== 'boolean') invalid(errors, `${pointer}/backfill`, 'backfill must be a boolean.');
    else if (ctx.revision < BACKFILL_REVISION) invalid(errors, `${pointer}/backfill`, `backfill is accepted from revision ${BACKFILL_REVISION}; this request uses ${ctx.revision}.`);
  }
  if (errors.length > before) return null;
  return {
    metric: metricName as string,
    time,
    unique_id: (attrs.unique_id as string | undefined) ?? undefined,
    value: (attrs.value as number | undefined) ?? undefined,
    value_currency: (attrs.value_currency as string | undefined) ?? undefined,
    backfill: attrs.backfill === true,
    properties: attrs.properties as Record<string, unknown>,
    pointer,
  };
}

/**
 * Validates a whole Bulk Create Events body (shape, per-event rules, at most 1,000 events).
 * @returns the events in body order, or the errors (the whole request is refused when any exist).
 */
export function validateBulkBody(body: unknown, ctx: ValidationContext): { events: ValidEvent[]; errors: ApiError[] } {
  const errors: ApiError[] = [];
  const events: ValidEvent[] = [];
  if (!isObject(body) || !isObject(body.data)) {
    invalid(errors, '/data', 'A data object is required.');
    return { events, errors };
  }
  if (body.data.type !== 'event-bulk-create-job') invalid(errors, '/data/type', "type must be 'event-bulk-create-job'.");
  const attrs = isObject(body.data.attributes) ? body.data.attributes : undefined;
  const list = attrs && isObject(attrs['events-bulk-create']) ? attrs['events-bulk-create'].data : undefined;
  if (!Array.isArray(list) || list.length === 0) {
    invalid(errors, '/data/attributes/events-bulk-create/data', 'A non-empty list of event-bulk-create objects is required.');
    return { events, errors };
  }
  let count = 0;
  for (const entry of list) if (isObject(entry) && isObject(entry.attributes) && isObject(entry.attributes.events) && Array.isArray(entry.attributes.events.data)) count += entry.attributes.events.data.length;
  if (count > EVENT_LIMITS.eventsPerBulk) {
    invalid(errors, '/data/attributes/events-bulk-create/data', `At most ${EVENT_LIMITS.eventsPerBulk} events are allowed per request; this one has ${count}.`);
    return { events, errors };
  }
  list.forEach((entry, g) => {
    const gp = `/data/attributes/events-bulk-create/data/${g}`;
    if (!isObject(entry) || entry.type !== 'event-bulk-create' || !isObject(entry.attributes)) {
      invalid(errors, gp, "Each item must be an 'event-bulk-create' object with attributes.");
      return;
    }
    const ea = entry.attributes;
    const profile = validateProfile(isObject(ea.profile) ? ea.profile.data : undefined, `${gp}/attributes/profile/data`, errors);
    const evs = isObject(ea.events) ? ea.events.data : undefined;
    if (!Array.isArray(evs) || evs.length === 0) {
      invalid(errors, `${gp}/attributes/events/data`, 'At least one event is required per profile.');
      return;
    }
    evs.forEach((ev, e) => {
      const ep = `${gp}/attributes/events/data/${e}`;
      if (!isObject(ev) || ev.type !== 'event') {
        invalid(errors, ep, "Each event must be a resource object with type 'event'.");
        return;
      }
      const v = validateEventAttributes(ev.attributes, `${ep}/attributes`, ctx, errors);
      if (v && profile) events.push({ ...v, profile });
    });
  });
  return { events, errors };
}

/** Validates a Create Event body (`POST /api/events`). */
export function validateSingleBody(body: unknown, ctx: ValidationContext): { events: ValidEvent[]; errors: ApiError[] } {
  const errors: ApiError[] = [];
  if (!isObject(body) || !isObject(body.data)) {
    invalid(errors, '/data', 'A data object is required.');
    return { events: [], errors };
  }
  if (body.data.type !== 'event') invalid(errors, '/data/type', "type must be 'event'.");
  const attrs = body.data.attributes;
  const profileData = isObject(attrs) && isObject(attrs.profile) ? attrs.profile.data : undefined;
  const profile = validateProfile(profileData, '/data/attributes/profile/data', errors);
  const v = validateEventAttributes(attrs, '/data/attributes', ctx, errors);
  return { events: v && profile && errors.length === 0 ? [{ ...v, profile }] : [], errors };
}

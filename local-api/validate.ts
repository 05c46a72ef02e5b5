/**
 * Validation of request bodies as Klaviyo documents it (klaviyo-api.md "Validation and limits"),
 * producing Klaviyo-style error objects whose `source.pointer` names the offending item.
 */

/** A Klaviyo-style error object. */
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
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const MAX_STRING_BYTES = 100 * 1024;
const MAX_ARRAY = 4000;
const MAX_DEPTH = 10;
const MAX_PROPERTIES = 400;

/** Validated content of one event. */
export interface ValidEvent {
  profile: { id?: string; email?: string; phone_number?: string; external_id?: string };
  metric: string;
  time: string;
  unique_id?: string;
  value?: number;
  value_currency?: string;
  backfill: boolean;
  properties: Record<string, unknown>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkValue(v: unknown, depth: number, pointer: string, errors: ApiError[]): void {
  if (typeof v === 'string') {
    if (Buffer.byteLength(v) > MAX_STRING_BYTES) errors.push(apiError(400, 'invalid', 'Invalid input.', 'A string exceeds 100 KB.', { pointer }));
  } else if (Array.isArray(v)) {
    if (v.length > MAX_ARRAY) errors.push(apiError(400, 'invalid', 'Invalid input.', `An array has more than ${MAX_ARRAY} items.`, { pointer }));
    if (depth >= MAX_DEPTH) errors.push(apiError(400, 'invalid', 'Invalid input.', `Nesting deeper than ${MAX_DEPTH} levels.`, { pointer }));
    else v.forEach((x, i) => checkValue(x, depth + 1, `${pointer}/${i}`, errors));
  } else if (isObject(v)) {
    if (depth >= MAX_DEPTH) errors.push(apiError(400, 'invalid', 'Invalid input.', `Nesting deeper than ${MAX_DEPTH} levels.`, { pointer }));
    else for (const [k, x] of Object.entries(v)) checkValue(x, depth + 1, `${pointer}/${k}`, errors);
  } else if (typeof v === 'number') {
    if (Number.isInteger(v) && !Number.isSafeInteger(v) && Math.abs(v) > 2 ** 63) {
      errors.push(apiError(400, 'invalid', 'Invalid input.', 'Integers must fit in 64 bits.', { pointer }));
    }
  }
}

/**
 * Validates the attributes of one event (bulk entry or single create) and its profile.
 * @param nowMs the server's clock, for the "not after now + 1 year" rule.
 */
export function validateEventAttributes(
  attrs: unknown,
  profileData: unknown,
  eventPointer: string,
  profilePointer: string,
  nowMs: number,
  errors: ApiError[],
): ValidEvent | null {
  const before = errors.length;
  const bad = (pointer: string, detail: string) => errors.push(apiError(400, 'invalid', 'Invalid input.', detail, { pointer }));
  const profile: ValidEvent['profile'] = {};
  if (!isObject(profileData) || profileData.type !== 'profile') bad(`${profilePointer}/data`, 'A profile resource object is required.');
  else {
    const pa = isObject(profileData.attributes) ? profileData.attributes : {};
    if (typeof profileData.id === 'string' && profileData.id) profile.id = profileData.id;
    if (pa.email !== undefined && pa.email !== null) {
      if (typeof pa.email !== 'string' || !EMAIL.test(pa.email) || pa.email.length >= 100) bad(`${profilePointer}/data/attributes/email`, `Invalid email address: ${String(pa.email)}`);
      else profile.email = pa.email;
    }
    if (pa.phone_number !== undefined && pa.phone_number !== null) {
      if (typeof pa.phone_number !== 'string' || !E164.test(pa.phone_number)) bad(`${profilePointer}/data/attributes/phone_number`, `Invalid phone number format (Example of a valid format: +13239169023): ${String(pa.phone_number)}`);
      else profile.phone_number = pa.phone_number;
    }
    if (pa.external_id !== undefined && pa.external_id !== null) {
      if (typeof pa.external_id !== 'string' || pa.external_id === '') bad(`${profilePointer}/data/attributes/external_id`, 'external_id must be a non-empty string.');
      else profile.external_id = pa.external_id;
    }
    if (!profile.id && !profile.email && !profile.phone_number && !profile.external_id && errors.length === before) {
      bad(`${profilePointer}/data/attributes`, 'At least one profile identifier (id, email, phone_number, external_id) is required.');
    }
  }
  if (!isObject(attrs)) {
    bad(eventPointer, 'Event attributes are required.');
    return null;
  }
  const metricName = isObject(attrs.metric) && isObject(attrs.metric.data) && isObject(attrs.metric.data.attributes) ? attrs.metric.data.attributes.name : undefined;
  if (typeof metricName !== 'string' || metricName.length < 1 || metricName.length > 127) {
    bad(`${eventPointer}/metric/data/attributes/name`, 'Metric name must be 1 to 127 characters.');
  }
  if (!isObject(attrs.properties)) bad(`${eventPointer}/properties`, 'properties is required and must be an object.');
  else {
    if (Object.keys(attrs.properties).length > MAX_PROPERTIES) bad(`${eventPointer}/properties`, `More than ${MAX_PROPERTIES} properties.`);
    checkValue(attrs.properties, 0, `${eventPointer}/properties`, errors);
  }
  let time = new Date(nowMs).toISOString();
  if (attrs.time !== undefined && attrs.time !== null) {
    if (typeof attrs.time !== 'string' || !RFC3339.test(attrs.time) || Number.isNaN(Date.parse(attrs.time))) {
      bad(`${eventPointer}/time`, `Invalid datetime: ${String(attrs.time)}`);
    } else {
      const ms = Date.parse(attrs.time);
      if (ms < Date.UTC(1990, 0, 1) || ms > nowMs + 365 * 24 * 3600 * 1000) bad(`${eventPointer}/time`, 'Event time must be after 1990-01-01 and at most one year ahead.');
      time = attrs.time;
    }
  }
  if (attrs.unique_id !== undefined && attrs.unique_id !== null && (typeof attrs.unique_id !== 'string' || attrs.unique_id.length < 1 || attrs.unique_id.length > 255)) {
    bad(`${eventPointer}/unique_id`, 'unique_id must be 1 to 255 characters.');
  }
  if (attrs.value !== undefined && attrs.value !== null && (typeof attrs.value !== 'number' || !Number.isFinite(attrs.value))) bad(`${eventPointer}/value`, 'value must be a number.');
  if (attrs.value_currency !== undefined && attrs.value_currency !== null && (typeof attrs.value_currency !== 'string' || !/^[A-Z]{3}$/.test(attrs.value_currency))) {
    bad(`${eventPointer}/value_currency`, 'value_currency must be an ISO 4217 code.');
  }
  if (errors.length > before) return null;
  return {
    profile,
    metric: metricName as string,
    time,
    unique_id: (attrs.unique_id as string | undefined) ?? undefined,
    value: (attrs.value as number | undefined) ?? undefined,
    value_currency: (attrs.value_currency as string | undefined) ?? undefined,
    backfill: attrs.backfill === true,
    properties: attrs.properties as Record<string, unknown>,
  };
}

/**
 * Validates a whole Bulk Create Events body.
 * @returns the events in body order, or the errors (the whole request is rejected when any exist).
 */
export function validateBulkBody(body: unknown, nowMs: number): { events: ValidEvent[]; errors: ApiError[] } {
  const errors: ApiError[] = [];
  const events: ValidEvent[] = [];
  const bad = (pointer: string, detail: string) => errors.push(apiError(400, 'invalid', 'Invalid input.', detail, { pointer }));
  if (!isObject(body) || !isObject(body.data)) {
    bad('/data', 'A data object is required.');
    return { events, errors };
  }
  if (body.data.type !== 'event-bulk-create-job') bad('/data/type', "type must be 'event-bulk-create-job'.");
  const attrs = isObject(body.data.attributes) ? body.data.attributes : undefined;
  const list = attrs && isObject(attrs['events-bulk-create']) ? attrs['events-bulk-create'].data : undefined;
  if (!Array.isArray(list)) {
    bad('/data/attributes/events-bulk-create/data', 'A list of event-bulk-create objects is required.');
    return { events, errors };
  }
  let count = 0;
  const seen = new Set<string>();
  list.forEach((entry, g) => {
    const gp = `/data/attributes/events-bulk-create/data/${g}`;
    if (!isObject(entry) || entry.type !== 'event-bulk-create' || !isObject(entry.attributes)) {
      bad(gp, "Each item must be an 'event-bulk-create' object with attributes.");
      return;
    }
    const ea = entry.attributes;
    const evs = isObject(ea.events) ? ea.events.data : undefined;
    if (!Array.isArray(evs) || evs.length === 0) {
      bad(`${gp}/attributes/events/data`, 'At least one event is required.');
      return;
    }
    const profileData = isObject(ea.profile) ? ea.profile.data : undefined;
    evs.forEach((ev, e) => {
      count++;
      const ep = `${gp}/attributes/events/data/${e}/attributes`;
      const v = validateEventAttributes(isObject(ev) ? ev.attributes : undefined, profileData, ep, `${gp}/attributes/profile`, nowMs, errors);
      if (!v) return;
      if (ea.backfill === true) v.backfill = true;
      if (v.unique_id !== undefined) {
        const k = `${JSON.stringify(v.profile)}\u0000${v.metric}\u0000${v.unique_id}`;
        if (seen.has(k)) bad(`${ep}/unique_id`, `Duplicate unique_id ${v.unique_id} for the same profile and metric in one request.`);
        seen.add(k);
      }
      events.push(v);
    });
  });
  if (count > 1000) bad('/data/attributes/events-bulk-create/data', `At most 1000 events per request; got ${count}.`);
  return { events, errors };
}

/**
 * Building Klaviyo Bulk Create Events requests from events (pure code).
 * Limits from klaviyo-api.md: at most 1,000 events and 5 MB (serialised body) per request; a unique_id
 * repeated for the same profile and metric fails the whole request, so repeats are removed here.
 */
import type { KlaviyoEvent, ProfileIdentifiers } from '../mapping/types.ts';

/** Klaviyo's per-request limits for `POST /api/event-bulk-create-jobs`. */
export const BULK_LIMITS = { maxEvents: 1000, maxBytes: 5 * 1024 * 1024 } as const;

/** One request's worth of events, in the order they appear in the body. */
export interface BulkBatch {
  /** Events in body order: `body.data.attributes["events-bulk-create"].data[g].attributes.events.data[e]`. */
  events: KlaviyoEvent[];
  /** For each event, its [profile group index, index within the group] in the body. */
  positions: [number, number][];
  /** The JSON:API body with Klaviyo's wire names. */
  body: WireBulkJob;
  /** Byte length of `JSON.stringify(body)` (UTF-8). */
  bytes: number;
}

/** The wire shape of a bulk job (see klaviyo-api.md "Bulk body shape"). */
export interface WireBulkJob {
  data: {
    type: 'event-bulk-create-job';
    attributes: { 'events-bulk-create': { data: WireProfileGroup[] } };
  };
}
export interface WireProfileGroup {
  type: 'event-bulk-create';
  attributes: {
    profile: { data: { type: 'profile'; id?: string; attributes: Omit<ProfileIdentifiers, 'id'> } };
    events: { data: WireEvent[] };
  };
}
export interface WireEvent {
  type: 'event';
  attributes: {
    properties: Record<string, unknown>;
    time: string;
    value?: number;
    value_currency?: string;
    unique_id: string;
    backfill?: boolean;
    metric: { data: { type: 'metric'; attributes: { name: string } } };
  };
}

/** Profile grouping key: events with identical identifiers share one profile entry. */
export function profileKey(p: ProfileIdentifiers): string {
  return `${p.email ?? ''}\u0000${p.phone_number ?? ''}\u0000${p.external_id ?? ''}\u0000${p.id ?? ''}`;
}

/** The wire form of one event. */
export function wireEvent(e: KlaviyoEvent, backfill: boolean): WireEvent {
  const attributes: WireEvent['attributes'] = {
    properties: e.properties,
    time: e.time,
    unique_id: e.unique_id,
    metric: { data: { type: 'metric', attributes: { name: e.metric } } },
  };
  if (e.value !== undefined) attributes.value = e.value;
  if (e.value_currency !== undefined) attributes.value_currency = e.value_currency;
  if (backfill) attributes.backfill = true;
  return { type: 'event', attributes };
}

function wireProfile(p: ProfileIdentifiers): WireProfileGroup['attributes']['profile'] {
  const { id, ...attributes } = p;
  return { data: id ? { type: 'profile', id, attributes } : { type: 'profile', attributes } };
}

const ENVELOPE_BYTES = Buffer.byteLength(
  JSON.stringify({ data: { type: 'event-bulk-create-job', attributes: { 'events-bulk-create': { data: [] } } } }),
);
const GROUP_OVERHEAD_BYTES = Buffer.byteLength(
  JSON.stringify({ type: 'event-bulk-create', attributes: { profile: { data: { type: 'profile', attributes: {} } }, events: { data: [] } } }),
) + 1;

/** Result of `buildBatches`. */
export interface Batching {
  batches: BulkBatch[];
  /** Events dropped because an earlier event of the same page had the same profile, metric and unique_id. */
  duplicates: KlaviyoEvent[];
  /** Events that alone exceed the byte limit (to be rejected as `payload_too_large`). */
  oversize: KlaviyoEvent[];
}

/**
 * Splits events into requests of at most `maxEvents` events and `maxBytes` serialised bytes, grouping
 * events of the same profile within a request and removing repeated (profile, metric, unique_id).
 */
export function buildBatches(
  events: readonly KlaviyoEvent[],
  opts: { backfill: boolean; maxEvents?: number; maxBytes?: number },
): Batching {
  const maxEvents = opts.maxEvents ?? BULK_LIMITS.maxEvents;
  const maxBytes = opts.maxBytes ?? BULK_LIMITS.maxBytes;
  const seen = new Set<string>();
  const duplicates: KlaviyoEvent[] = [];
  const oversize: KlaviyoEvent[] = [];
  const batches: BulkBatch[] = [];

  let groups: WireProfileGroup[] = [];
  let groupIndex = new Map<string, number>();
  let batchEvents: KlaviyoEvent[] = [];
  let positions: [number, number][] = [];
  let bytes = ENVELOPE_BYTES;

  const flush = () => {
    if (batchEvents.length === 0) return;
    batches.push({
      events: batchEvents,
      positions,
      body: { data: { type: 'event-bulk-create-job', attributes: { 'events-bulk-create': { data: groups } } } },
      bytes,
    });
    groups = [];
    groupIndex = new Map();
    batchEvents = [];
    positions = [];
    bytes = ENVELOPE_BYTES;
  };

  for (const e of events) {
    const pk = profileKey(e.profile);
    const dedupKey = `${pk}\u0001${e.metric}\u0001${e.unique_id}`;
    if (seen.has(dedupKey)) {
      duplicates.push(e);
      continue;
    }
    seen.add(dedupKey);
    const we = wireEvent(e, opts.backfill);
    const eventBytes = Buffer.byteLength(JSON.stringify(we)) + 1;
    const profile = wireProfile(e.profile);
    const profileBytes = Buffer.byteLength(JSON.stringify(profile)) + GROUP_OVERHEAD_BYTES;
    if (ENVELOPE_BYTES + profileBytes + eventBytes > maxBytes) {
      oversize.push(e);
      continue;
    }
    let g = groupIndex.get(pk);
    const added = eventBytes + (g === undefined ? profileBytes : 0);
    if (batchEvents.length >= maxEvents || bytes + added > maxBytes) {
      flush();
      g = undefined;
    }
    if (g === undefined) {
      g = groups.length;
      groupIndex.set(pk, g);
      groups.push({ type: 'event-bulk-create', attributes: { profile, events: { data: [] } } });
      bytes += profileBytes;
    }
    const list = groups[g].attributes.events.data;
    positions.push([g, list.length]);
    list.push(we);
    batchEvents.push(e);
    bytes += eventBytes;
  }
  flush();
  return { batches, duplicates, oversize };
}

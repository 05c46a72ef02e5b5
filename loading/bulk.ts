/**
 * Building Klaviyo Bulk Create Events requests from events (pure code).
 *
 * Limits from klaviyo-api.md ("Endpoints", "Deduplication"): at most 1,000 events and 5 MB per request,
 * measured here on the exact serialised body that goes on the wire; a unique_id repeated for the same
 * profile and metric fails the whole request, so repeats are removed (page level) or kept apart (request
 * level) here.
 *
 * Cost: every event is serialised exactly once (`encodeEvents`), to a JSON fragment whose UTF-8 length
 * is known. Requests are then assembled by concatenating fragments (`BulkBatch.body()`), so packing,
 * re-packing after a 400 and retries never serialise an event again, and the byte count of a request is
 * exact by construction (`Buffer.byteLength(batch.body()) === batch.bytes`).
 */
import type { KlaviyoEvent, ProfileIdentifiers } from '../mapping/types.ts';

/** Klaviyo's per-request limits for `POST /api/event-bulk-create-jobs` (klaviyo-api.md "Endpoints"). */
export const BULK_LIMITS = { maxEvents: 1000, maxBytes: 5 * 1024 * 1024 } as const;

/** The profile of an event, serialised once per distinct identifier set. */
export interface EncodedProfile {
  /** Grouping key: events with identical identifiers share one profile entry in a request. */
  key: string;
  /** `{"data":{"type":"profile",...}}` */
  json: string;
  /** UTF-8 length of `json`. */
  bytes: number;
}

/**
 * One event, serialised once. `event` is what the event is known by: the event itself (`encodeEvents`),
 * or the caller's tag for it (the loader's streaming form, which keeps a small handle, e.g. the source
 * row, instead of the event object while the request is in flight).
 */
export interface EncodedEvent<T = KlaviyoEvent> {
  event: T;
  /** Position of the event in the order it was given (the page order). */
  index: number;
  /** The event's entry of `attributes.events.data`: `{"type":"event","attributes":{...}}`. */
  json: string;
  /** UTF-8 length of `json`. */
  bytes: number;
  profile: EncodedProfile;
  /** `metric \u0001 unique_id`: never twice in one request (the profile may resolve to the same one server-side). */
  idKey: string;
}

/** One request's worth of events. */
export interface BulkBatch<T = KlaviyoEvent> {
  /** Events in body order: item i sits at `events-bulk-create/data[positions[i][0]]/attributes/events/data[positions[i][1]]`. */
  items: EncodedEvent<T>[];
  /** For each item, its [profile group index, index within the group] in the body. */
  positions: [number, number][];
  /** Number of profile groups in the body. */
  groups: number;
  /** Exact UTF-8 byte length of `body()`. */
  bytes: number;
  /** The JSON:API request body with Klaviyo's wire names (assembled on demand, not kept). */
  body(): string;
  /** `body()` as UTF-8 bytes, written straight into one buffer of exactly `bytes` bytes (no intermediate string). */
  bodyBuffer(): Buffer;
}

/** The wire shape of one event (an entry of `attributes.events.data`), as `encodeEventJson` writes it. */
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

/** The wire shape of one profile entry of a bulk job. */
export interface WireProfileGroup {
  type: 'event-bulk-create';
  attributes: {
    profile: { data: { type: 'profile'; id?: string; attributes: Omit<ProfileIdentifiers, 'id'> } };
    events: { data: WireEvent[] };
  };
}

/**
 * The wire form of one event as an object, fields in the order `encodeEventJson` writes them, so that
 * `JSON.stringify(wireEvent(e, b)) === encodeEventJson(e, b)` (previews and size checks rely on it).
 */
export function wireEvent(e: KlaviyoEvent, backfill: boolean): WireEvent {
  const attributes = { properties: e.properties, time: e.time } as WireEvent['attributes'];
  if (e.value !== undefined) attributes.value = e.value;
  if (e.value_currency !== undefined) attributes.value_currency = e.value_currency;
  attributes.unique_id = e.unique_id;
  if (backfill) attributes.backfill = true;
  attributes.metric = { data: { type: 'metric', attributes: { name: e.metric } } };
  return { type: 'event', attributes };
}

/** Profile grouping key: the exact identifier set. */
export function profileKey(p: ProfileIdentifiers): string {
  return `${p.email ?? ''}\u0000${p.phone_number ?? ''}\u0000${p.external_id ?? ''}\u0000${p.id ?? ''}`;
}

const str = JSON.stringify;

/**
 * The wire JSON of one event (an entry of `attributes.events.data`, klaviyo-api.md "Bulk body shape").
 * Fields are written in a fixed order; `undefined` optional fields are left out.
 */
export function encodeEventJson(e: KlaviyoEvent, backfill: boolean): string {
  let s = `{"type":"event","attributes":{"properties":${str(e.properties)},"time":${str(e.time)}`;
  if (e.value !== undefined) s += `,"value":${str(e.value)}`;
  if (e.value_currency !== undefined) s += `,"value_currency":${str(e.value_currency)}`;
  s += `,"unique_id":${str(e.unique_id)}`;
  if (backfill) s += ',"backfill":true';
  s += `,"metric":{"data":{"type":"metric","attributes":{"name":${str(e.metric)}}}}}}`;
  return s;
}

/** The wire JSON of a profile reference: `{"data":{"type":"profile","id"?,"attributes":{...}}}`. */
export function encodeProfileJson(p: ProfileIdentifiers): string {
  let s = '{"data":{"type":"profile"';
  if (p.id) s += `,"id":${str(p.id)}`;
  s += ',"attributes":{';
  let sep = '';
  if (p.email !== undefined) {
    s += `"email":${str(p.email)}`;
    sep = ',';
  }
  if (p.phone_number !== undefined) {
    s += `${sep}"phone_number":${str(p.phone_number)}`;
    sep = ',';
  }
  if (p.external_id !== undefined) s += `${sep}"external_id":${str(p.external_id)}`;
  return `${s}}}}`;
}

const BODY_HEAD = '{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":[';
const BODY_TAIL = ']}}}}';
const GROUP_HEAD = '{"type":"event-bulk-create","attributes":{"profile":';
const GROUP_MID = ',"events":{"data":[';
const GROUP_TAIL = ']}}}';
/** Bytes of an empty body. */
export const ENVELOPE_BYTES = BODY_HEAD.length + BODY_TAIL.length;
/** Bytes of a profile group without its profile JSON and events. */
const GROUP_FIXED_BYTES = GROUP_HEAD.length + GROUP_MID.length + GROUP_TAIL.length;

/** Result of `encodeEvents`. */
export interface Encoding {
  items: EncodedEvent[];
  /** Events dropped because an earlier event of the list had the same profile, metric and unique_id (Klaviyo keeps the first). */
  duplicates: KlaviyoEvent[];
}

/**
 * Serialises events one at a time, remembering which (profile identifiers, metric, unique_id) it has
 * seen: a repeat is what Klaviyo would drop as a duplicate ("first processed wins"), so it is not sent.
 * One encoder covers one page: deduplication holds across every call of `encode` on it. Profile JSON is
 * shared between the events of a profile until `forgetProfiles()` (called between chunks of a stream,
 * so that only the seen-keys grow with the page).
 */
export class EventEncoder {
  private profiles = new Map<string, EncodedProfile>();
  private readonly seen = new Set<string>();
  private next = 0;

  constructor(private readonly backfill: boolean) {}

  /**
   * The encoded event, or null when it repeats an earlier one. `tag` is what the result carries as
   * `event` (default: the event itself).
   */
  encode<T = KlaviyoEvent>(event: KlaviyoEvent, tag?: T): EncodedEvent<T> | null {
    const index = this.next++;
    const pk = profileKey(event.profile);
    const idKey = `${event.metric}\u0001${event.unique_id}`;
    const dedupKey = `${pk}\u0002${idKey}`;
    if (this.seen.has(dedupKey)) return null;
    this.seen.add(dedupKey);
    let profile = this.profiles.get(pk);
    if (!profile) {
      const json = encodeProfileJson(event.profile);
      profile = { key: pk, json, bytes: Buffer.byteLength(json) };
      this.profiles.set(pk, profile);
    }
    const json = encodeEventJson(event, this.backfill);
    return { event: (tag === undefined ? event : tag) as T, index, json, bytes: Buffer.byteLength(json), profile, idKey };
  }

  /** Drops the shared profile JSON (events already encoded keep theirs). */
  forgetProfiles(): void {
    this.profiles = new Map();
  }
}

/**
 * Serialises each event once and removes exact repeats: an event whose (profile identifiers, metric,
 * unique_id) equals an earlier one's is what Klaviyo would drop as a duplicate ("first processed wins"),
 * so it is not sent.
 */
export function encodeEvents(events: readonly KlaviyoEvent[], opts: { backfill: boolean }): Encoding {
  const encoder = new EventEncoder(opts.backfill);
  const items: EncodedEvent[] = [];
  const duplicates: KlaviyoEvent[] = [];
  for (const event of events) {
    const item = encoder.encode(event);
    if (item) items.push(item);
    else duplicates.push(event);
  }
  return { items, duplicates };
}

/** Result of `packBatches`. */
export interface Packing<T = KlaviyoEvent> {
  batches: BulkBatch<T>[];
  /** Items that alone exceed the byte limit (to be rejected as `payload_too_large`). */
  oversize: EncodedEvent<T>[];
}

interface OpenGroup {
  profile: EncodedProfile;
  events: string[];
  index: number;
}

function makeBatch<T>(items: EncodedEvent<T>[], positions: [number, number][], groups: OpenGroup[], bytes: number): BulkBatch<T> {
  return {
    items,
    positions,
    groups: groups.length,
    bytes,
    body: () => {
      let s = BODY_HEAD;
      for (let g = 0; g < groups.length; g++) {
        if (g > 0) s += ',';
        s += GROUP_HEAD + groups[g].profile.json + GROUP_MID + groups[g].events.join(',') + GROUP_TAIL;
      }
      return s + BODY_TAIL;
    },
    bodyBuffer: () => {
      const buf = Buffer.allocUnsafe(bytes);
      let at = buf.write(BODY_HEAD, 0, 'latin1');
      for (let g = 0; g < groups.length; g++) {
        if (g > 0) at += buf.write(',', at, 'latin1');
        at += buf.write(GROUP_HEAD, at, 'latin1');
        at += buf.write(groups[g].profile.json, at, 'utf8');
        at += buf.write(GROUP_MID, at, 'latin1');
        const events = groups[g].events;
        for (let e = 0; e < events.length; e++) {
          if (e > 0) at += buf.write(',', at, 'latin1');
          at += buf.write(events[e], at, 'utf8');
        }
        at += buf.write(GROUP_TAIL, at, 'latin1');
      }
      at += buf.write(BODY_TAIL, at, 'latin1');
      if (at !== bytes) throw new Error(`bulk body is ${at} bytes, expected ${bytes}`);
      return buf;
    },
  };
}

/**
 * Packs encoded events into requests of at most `maxEvents` events and `maxBytes` body bytes.
 * Events of one profile are grouped under one profile entry (events of a profile anywhere in the list
 * are brought together, which saves repeating the profile); within a group the list order is kept.
 * Two events with the same metric and unique_id but different identifiers never share a request (the
 * identifiers may resolve to one profile, and Klaviyo would then fail the whole request): the later one
 * goes to a later request.
 */
export function packBatches<T = KlaviyoEvent>(items: readonly EncodedEvent<T>[], opts: { maxEvents?: number; maxBytes?: number } = {}): Packing<T> {
  const maxEvents = opts.maxEvents ?? BULK_LIMITS.maxEvents;
  const maxBytes = opts.maxBytes ?? BULK_LIMITS.maxBytes;
  const batches: BulkBatch<T>[] = [];
  const oversize: EncodedEvent<T>[] = [];

  let pending: readonly EncodedEvent<T>[] = items;
  while (pending.length > 0) {
    // Group by profile, in order of first appearance.
    const byProfile = new Map<string, EncodedEvent<T>[]>();
    for (const it of pending) {
      const list = byProfile.get(it.profile.key);
      if (list) list.push(it);
      else byProfile.set(it.profile.key, [it]);
    }
    const deferred: EncodedEvent<T>[] = [];
    let bItems: EncodedEvent<T>[] = [];
    let positions: [number, number][] = [];
    let groups: OpenGroup[] = [];
    let groupOf = new Map<string, OpenGroup>();
    let ids = new Set<string>();
    let bytes = ENVELOPE_BYTES;
    const flush = () => {
      if (bItems.length) batches.push(makeBatch(bItems, positions, groups, bytes));
      bItems = [];
      positions = [];
      groups = [];
      groupOf = new Map();
      ids = new Set();
      bytes = ENVELOPE_BYTES;
    };
    for (const list of byProfile.values()) {
      for (const it of list) {
        const alone = ENVELOPE_BYTES + GROUP_FIXED_BYTES + it.profile.bytes + it.bytes;
        if (alone > maxBytes) {
          oversize.push(it);
          continue;
        }
        if (ids.has(it.idKey)) {
          deferred.push(it);
          continue;
        }
        let g = groupOf.get(it.profile.key);
        let added = g ? 1 + it.bytes : (groups.length ? 1 : 0) + GROUP_FIXED_BYTES + it.profile.bytes + it.bytes;
        if (bItems.length >= maxEvents || bytes + added > maxBytes) {
          flush();
          g = undefined;
          added = GROUP_FIXED_BYTES + it.profile.bytes + it.bytes;
        }
        if (!g) {
          g = { profile: it.profile, events: [], index: groups.length };
          groups.push(g);
          groupOf.set(it.profile.key, g);
        }
        positions.push([g.index, g.events.length]);
        g.events.push(it.json);
        bItems.push(it);
        ids.add(it.idKey);
        bytes += added;
      }
    }
    flush();
    pending = deferred;
  }
  return { batches, oversize };
}

/** Result of `buildBatches`. */
export interface Batching extends Packing {
  duplicates: KlaviyoEvent[];
}

/** `encodeEvents` then `packBatches`: a page's events as ready-to-send requests. */
export function buildBatches(
  events: readonly KlaviyoEvent[],
  opts: { backfill: boolean; maxEvents?: number; maxBytes?: number },
): Batching {
  const { items, duplicates } = encodeEvents(events, opts);
  return { ...packBatches(items, opts), duplicates };
}

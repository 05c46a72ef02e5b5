/**
 * A local Klaviyo-compatible HTTP API: the destination of the demo, the tests and the benchmarks, and a
 * test double users can run (`dwh-import local-api`). It keeps the documented contract of
 * `POST /api/event-bulk-create-jobs` and `POST /api/events` (klaviyo-api.md):
 *
 * - auth (`Authorization: Klaviyo-API-Key <key>`: 401 without a known key, 403 without the
 *   `events:write` scope) and the `revision` header (400 when missing, malformed or too old);
 * - bodies validated against the documented shape and limits, with Klaviyo-style error bodies whose
 *   `source.pointer` names each offending item; 413 over 5 MB; 415 for a non-JSON content type;
 * - fixed-window rate limits per key and endpoint (bulk 10/s + 150/min, single 350/s + 3,500/min by
 *   default), windows starting at the server's own boundary (its start time, not the epoch);
 *   `RateLimit-Limit/-Remaining/-Reset` on every answer past the limiter, 429 with `Retry-After`;
 * - profiles resolved by identifiers; events deduplicated per (profile, metric, unique_id), first wins;
 * - injected faults (`Faults`), settable at start and over HTTP;
 * - read-back endpoints:
 *   `GET /_local/events?metric=&unique_id=&profile_id=&offset=&limit=`, `GET /_local/profiles`,
 *   `GET /_local/stats` (counters and per-window counts), `GET|PUT /_local/faults`,
 *   `GET|PUT /_local/limits`, `POST /_local/reset`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { LocalStore } from './store.ts';
import { apiError, validateBulkBody, validateSingleBody, type ApiError, type ProfileIds, type ValidEvent } from './validate.ts';

/** Requests per fixed window for one endpoint. Window lengths default to 1 s and 60 s (tests shorten them). */
export interface EndpointLimits {
  burstPerSecond: number;
  steadyPerMinute: number;
  burstWindowMs?: number;
  steadyWindowMs?: number;
}

/** Rate limits per endpoint; `null` switches limiting (and the RateLimit-* headers) off. */
export interface LocalLimits {
  bulk: EndpointLimits | null;
  single: EndpointLimits | null;
}

/** Klaviyo's documented limits (klaviyo-api.md "Endpoints"). */
export const KLAVIYO_LIMITS: LocalLimits = {
  bulk: { burstPerSecond: 10, steadyPerMinute: 150 },
  single: { burstPerSecond: 350, steadyPerMinute: 3500 },
};

/**
 * Faults injected into the event endpoints. Shares are probabilities in [0, 1] drawn per request,
 * after authentication; 500/503/drops after the rate limiter (they count against the window, as a real
 * server's would), injected 429s before it (a 429 is never counted).
 */
export interface Faults {
  /** Share answered 500 before processing. */
  error500?: number;
  /** Share answered 503 (with `Retry-After: 1`) before processing. */
  error503?: number;
  /** Share whose connection is cut after the body was read, before processing: nothing is stored. */
  drop?: number;
  /** Share whose events are stored and whose connection is then cut: the client cannot know they were. */
  dropAfterAccept?: number;
  /** Share of requests held `slowMs` before processing (a slow server; a client that gives up meanwhile may find its events stored later). Default: all when `slowMs` is set. */
  slow?: number;
  /** Delay of slow requests, ms. Default 2,000. */
  slowMs?: number;
  /** Share of requests stored and then answered only after `lateAnswerMs` (a client timing out has been stored). */
  lateAnswer?: number;
  /** Delay of late answers, ms. Default 2,000. */
  lateAnswerMs?: number;
  /** Share of requests that start a burst of `burstLength` 429 answers. */
  throttleBurst?: number;
  /** Consecutive 429s in an injected burst. Default 5. */
  burstLength?: number;
  /** The next N requests are answered 429 (one-shot; counts down). */
  burst429?: number;
  /** `Retry-After` of injected 429s, seconds. Default 1. */
  retryAfter?: number;
  /** 400 answers carry no `source.pointer` (the client must isolate bad items itself). */
  omitPointers?: boolean;
  /** At most this many errors per 400 answer (Klaviyo may report fewer than all). */
  errorsPerAnswer?: number;
  /** Seed of the fault dice (reproducible runs). */
  seed?: number;
}

/** An API key and its scopes. */
export interface LocalKey {
  key: string;
  /** Default `['events:write']`. */
  scopes?: string[];
}

export interface LocalApiOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Accepted private keys (strings have every scope). Default `['pk_local_dev']`. */
  apiKeys?: (string | LocalKey)[];
  limits?: LocalLimits;
  faults?: Faults;
  /** Largest accepted body, bytes. Klaviyo: 5 MB. */
  maxBodyBytes?: number;
  /** Epoch ms at which the server's rate-limit windows start. Default: the server's start time. */
  windowOriginMs?: number;
  /** Oldest accepted `revision` header. Default `2024-10-15`. */
  minRevision?: string;
}

/** Counts of one steady window of the bulk endpoint (benchmarks read them). */
export interface WindowStats {
  index: number;
  /** Epoch ms the window starts at. */
  start: number;
  admitted: number;
  /** 429s because the window's steady budget was spent. */
  throttled: number;
  /** 429s because a 1 s burst window was full (counted in the steady window they fell in). */
  throttledBurst: number;
}

/** A running local API. */
export interface LocalKlaviyo {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  port: number;
  store: LocalStore;
  /** Epoch ms at which the rate-limit windows start. */
  windowOriginMs: number;
  faults(): Faults;
  setFaults(f: Faults): void;
  limits(): LocalLimits;
  setLimits(l: LocalLimits): void;
  /** Per steady window counts of the bulk endpoint (all keys), oldest first. */
  windowStats(): WindowStats[];
  close(): Promise<void>;
}

const DEFAULT_MIN_REVISION = '2024-10-15';
const REVISION = /^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/;
const MAX_WINDOW_STATS = 240;

/** Fixed windows anchored at `origin`: window n spans [origin + n*len, origin + (n+1)*len). */
class FixedWindows {
  private burstIndex = Number.NaN;
  private burstCount = 0;
  private steadyIndex = Number.NaN;
  private steadyCount = 0;
  constructor(private readonly origin: number) {}

  /** Admits or refuses one request at `now`; `retryAfter` (s) is null when admitted. */
  take(l: EndpointLimits, now: number): { retryAfter: number | null; remaining: number; reset: number; window: number; burst?: boolean } {
    const W = l.steadyWindowMs ?? 60_000;
    const B = l.burstWindowMs ?? 1000;
    const si = Math.floor((now - this.origin) / W);
    if (si !== this.steadyIndex) {
      this.steadyIndex = si;
      this.steadyCount = 0;
    }
    const bi = Math.floor((now - this.origin) / B);
    if (bi !== this.burstIndex) {
      this.burstIndex = bi;
      this.burstCount = 0;
    }
    const reset = Math.max(1, Math.ceil((this.origin + (si + 1) * W - now) / 1000));
    if (this.steadyCount >= l.steadyPerMinute) return { retryAfter: reset, remaining: 0, reset, window: si };
    if (this.burstCount >= l.burstPerSecond) {
      const ra = Math.max(1, Math.ceil((this.origin + (bi + 1) * B - now) / 1000));
      return { retryAfter: ra, remaining: l.steadyPerMinute - this.steadyCount, reset, window: si, burst: true };
    }
    this.burstCount++;
    this.steadyCount++;
    return { retryAfter: null, remaining: l.steadyPerMinute - this.steadyCount, reset, window: si };
  }
}

/** mulberry32: a small seeded PRNG for reproducible fault dice. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAULT_KEYS: (keyof Faults)[] = [
  'error500', 'error503', 'drop', 'dropAfterAccept', 'slow', 'slowMs', 'lateAnswer', 'lateAnswerMs', 'throttleBurst', 'burstLength', 'burst429', 'retryAfter', 'omitPointers', 'errorsPerAnswer', 'seed',
];

/** Checks a faults object (from a flag or over HTTP). @throws Error naming the bad field. */
export function checkFaults(f: unknown): Faults {
  if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new Error('faults must be a JSON object');
  const out: Faults = {};
  for (const [k, v] of Object.entries(f as Record<string, unknown>)) {
    if (!FAULT_KEYS.includes(k as keyof Faults)) throw new Error(`unknown fault "${k}" (known: ${FAULT_KEYS.join(', ')})`);
    if (k === 'omitPointers') {
      if (typeof v !== 'boolean') throw new Error('omitPointers must be true or false');
    } else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${k} must be a number >= 0`);
    else if (['error500', 'error503', 'drop', 'dropAfterAccept', 'slow', 'lateAnswer', 'throttleBurst'].includes(k) && v > 1) throw new Error(`${k} is a share and must be between 0 and 1`);
    (out as Record<string, unknown>)[k] = v;
  }
  const shares = (out.error500 ?? 0) + (out.error503 ?? 0) + (out.drop ?? 0) + (out.dropAfterAccept ?? 0);
  if (shares > 1) throw new Error('error500 + error503 + drop + dropAfterAccept must not exceed 1');
  return out;
}

/** A one-line description of limits and faults (the startup line). */
export function describeSetup(limits: LocalLimits, faults: Faults): string {
  const l = (e: EndpointLimits | null) =>
    e ? `${e.burstPerSecond}/${(e.burstWindowMs ?? 1000) / 1000}s + ${e.steadyPerMinute}/${(e.steadyWindowMs ?? 60_000) / 1000}s` : 'off';
  const f = Object.entries(faults)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `limits bulk ${l(limits.bulk)}, single ${l(limits.single)}; faults ${f || 'none'}`;
}

/** Starts the local API. Resolves once it listens. */
export async function startLocalKlaviyo(opts: LocalApiOptions = {}): Promise<LocalKlaviyo> {
  const store = new LocalStore();
  const keys = new Map<string, Set<string>>();
  for (const k of opts.apiKeys ?? ['pk_local_dev']) {
    if (typeof k === 'string') keys.set(k, new Set(['events:write', 'events:read']));
    else keys.set(k.key, new Set(k.scopes ?? ['events:write']));
  }
  let limits: LocalLimits = opts.limits ?? KLAVIYO_LIMITS;
  let faults: Faults = checkFaults(opts.faults ?? {});
  let dice: () => number = faults.seed !== undefined ? seeded(faults.seed) : Math.random;
  let burstLeft = 0;
  const maxBody = opts.maxBodyBytes ?? 5 * 1024 * 1024;
  const minRevision = opts.minRevision ?? DEFAULT_MIN_REVISION;
  const origin = opts.windowOriginMs ?? Date.now();
  const windows = new Map<string, FixedWindows>();
  const bulkWindows = new Map<number, WindowStats>();
  const sockets = new Set<Socket>();

  const setFaults = (f: Faults) => {
    faults = checkFaults(f);
    dice = faults.seed !== undefined ? seeded(faults.seed) : Math.random;
    burstLeft = 0;
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/vnd.api+json', 'content-length': String(Buffer.byteLength(text)), ...headers });
    res.end(text);
  };
  const fail = (res: ServerResponse, status: number, errors: ApiError[], headers: Record<string, string> = {}) => {
    store.counters.rejected_requests++;
    send(res, status, { errors }, headers);
  };

  /** Reads the body; null when it exceeds `maxBody` (the rest is drained). */
  const readBody = (req: IncomingMessage, limit = maxBody): Promise<Buffer | null> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let tooBig = false;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > limit) tooBig = true;
        else chunks.push(c);
      });
      req.on('end', () => resolve(tooBig ? null : Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const windowStat = (l: EndpointLimits, index: number): WindowStats => {
    let s = bulkWindows.get(index);
    if (!s) {
      s = { index, start: origin + index * (l.steadyWindowMs ?? 60_000), admitted: 0, throttled: 0, throttledBurst: 0 };
      bulkWindows.set(index, s);
      if (bulkWindows.size > MAX_WINDOW_STATS) bulkWindows.delete(bulkWindows.keys().next().value!);
    }
    return s;
  };

  /** Stores the events of an accepted request. Same-profile identity is resolved as Klaviyo would. */
  const storeEvents = (events: ValidEvent[]) => {
    const receivedAt = new Date().toISOString();
    for (const v of events) {
      const profile = store.resolveProfile(v.profile);
      store.addEvent({
        metric: v.metric,
        profile_id: profile.id,
        time: v.time,
        unique_id: v.unique_id,
        value: v.value,
        value_currency: v.value_currency,
        backfill: v.backfill,
        properties: v.properties,
      }, receivedAt);
    }
  };

  /**
   * Klaviyo fails a bulk request whose unique_id repeats for the same profile and metric. Two entries
   * are the same profile when they share an identifier or resolve to the same stored profile.
   */
  const repeatedIds = (events: ValidEvent[]): ApiError[] => {
    const errors: ApiError[] = [];
    const identity = new Map<string, string>();
    const seen = new Set<string>();
    let synthetic = 0;
    for (const v of events) {
      const idKeys: string[] = [];
      if (v.profile.id) idKeys.push(`i:${v.profile.id}`);
      if (v.profile.email) idKeys.push(`e:${v.profile.email.toLowerCase()}`);
      if (v.profile.phone_number) idKeys.push(`p:${v.profile.phone_number}`);
      if (v.profile.external_id) idKeys.push(`x:${v.profile.external_id}`);
      let who = idKeys.map((k) => identity.get(k)).find((x) => x !== undefined);
      who ??= store.findProfile(v.profile as ProfileIds)?.id ?? `new-${synthetic++}`;
      for (const k of idKeys) if (!identity.has(k)) identity.set(k, who);
      if (v.unique_id === undefined) continue;
      const k = `${who}\u0000${v.metric}\u0000${v.unique_id}`;
      if (seen.has(k)) {
        errors.push(apiError(400, 'invalid', 'Invalid input.', `Duplicate unique_id "${v.unique_id}" for the same profile and metric within one request.`, { pointer: `${v.pointer}/unique_id` }));
      }
      seen.add(k);
    }
    return errors;
  };

  async function handleEvents(req: IncomingMessage, res: ServerResponse, bulk: boolean): Promise<void> {
    store.counters.requests++;
    const auth = req.headers.authorization ?? '';
    const key = auth.startsWith('Klaviyo-API-Key ') ? auth.slice('Klaviyo-API-Key '.length).trim() : '';
    const scopes = keys.get(key);
    if (!scopes) {
      await readBody(req, 0);
      return fail(res, 401, [
        apiError(401, 'not_authenticated', 'Authentication credentials were incorrect or not provided.', 'Missing or invalid private key.', { header: 'Authorization' }),
      ]);
    }
    if (!scopes.has('events:write')) {
      await readBody(req, 0);
      return fail(res, 403, [apiError(403, 'permission_denied', 'You do not have permission to perform this action.', 'The API key is missing the events:write scope.', {})]);
    }
    const revision = String(req.headers.revision ?? '');
    if (!REVISION.test(revision) || revision < minRevision) {
      await readBody(req, 0);
      return fail(res, 400, [
        apiError(400, 'invalid_revision', 'Invalid revision.', `The revision header is missing, malformed or older than ${minRevision}: "${revision.slice(0, 40)}".`, { header: 'revision' }),
      ]);
    }
    const ctype = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (ctype !== 'application/json' && ctype !== 'application/vnd.api+json') {
      await readBody(req, 0);
      return fail(res, 415, [apiError(415, 'unsupported_media_type', 'Unsupported media type.', `Unsupported media type "${ctype}" in request.`, { header: 'Content-Type' })]);
    }

    // Injected 429 bursts (before the windows: like any 429, they are not counted).
    if ((faults.burst429 ?? 0) > 0) {
      faults.burst429!--;
      burstLeft = Math.max(burstLeft, 1);
    } else if (burstLeft === 0 && faults.throttleBurst && dice() < faults.throttleBurst) burstLeft = faults.burstLength ?? 5;
    if (burstLeft > 0) {
      burstLeft--;
      store.counters.throttled++;
      store.counters.injected_faults++;
      await readBody(req, 0);
      const ra = String(faults.retryAfter ?? 1);
      return fail(res, 429, [apiError(429, 'throttled', 'Request was throttled.', `Request was throttled. Expected available in ${ra} seconds.`, {})], { 'retry-after': ra });
    }

    // Rate limits (fixed windows per key and endpoint).
    const endpointLimits = bulk ? limits.bulk : limits.single;
    let rlHeaders: Record<string, string> = {};
    if (endpointLimits) {
      const wk = `${key}\u0000${bulk ? 'bulk' : 'single'}`;
      let w = windows.get(wk);
      if (!w) windows.set(wk, (w = new FixedWindows(origin)));
      const rl = w.take(endpointLimits, Date.now());
      const stat = bulk ? windowStat(endpointLimits, rl.window) : undefined;
      if (rl.retryAfter !== null) {
        store.counters.throttled++;
        if (stat) {
          if (rl.burst) stat.throttledBurst++;
          else stat.throttled++;
        }
        await readBody(req, 0);
        return fail(res, 429, [apiError(429, 'throttled', 'Request was throttled.', `Request was throttled. Expected available in ${rl.retryAfter} second${rl.retryAfter === 1 ? '' : 's'}.`, {})], {
          'retry-after': String(rl.retryAfter),
        });
      }
      if (stat) stat.admitted++;
      rlHeaders = { 'ratelimit-limit': String(endpointLimits.steadyPerMinute), 'ratelimit-remaining': String(rl.remaining), 'ratelimit-reset': String(rl.reset) };
    }

    const raw = await readBody(req);
    if (raw === null) {
      return fail(res, 413, [apiError(413, 'payload_too_large', 'Payload too large.', `The request body exceeds ${maxBody} bytes.`, {})], rlHeaders);
    }
    const slowShare = faults.slow ?? (faults.slowMs ? 1 : 0);
    if (slowShare > 0 && (slowShare >= 1 || dice() < slowShare)) await new Promise((r) => setTimeout(r, faults.slowMs ?? 2000));
    const roll = dice();
    const p500 = faults.error500 ?? 0;
    const p503 = p500 + (faults.error503 ?? 0);
    const pDrop = p503 + (faults.drop ?? 0);
    const pDropAfter = pDrop + (faults.dropAfterAccept ?? 0);
    if (roll < p500) {
      store.counters.injected_faults++;
      return fail(res, 500, [apiError(500, 'error', 'A server error occurred.', 'Injected fault (500).', {})], rlHeaders);
    }
    if (roll < p503) {
      store.counters.injected_faults++;
      return fail(res, 503, [apiError(503, 'service_unavailable', 'Service unavailable.', 'Injected fault (503).', {})], { ...rlHeaders, 'retry-after': '1' });
    }
    if (roll < pDrop) {
      store.counters.injected_faults++;
      store.counters.dropped_before_accept++;
      req.socket.destroy();
      return;
    }

    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return fail(res, 400, [apiError(400, 'parse_error', 'Malformed JSON.', 'The request body is not valid JSON.', { pointer: '/' })], rlHeaders);
    }
    const ctx = { nowMs: Date.now(), revision };
    const v = bulk ? validateBulkBody(body, ctx) : validateSingleBody(body, ctx);
    let errors = v.errors;
    if (!errors.length && bulk) errors = repeatedIds(v.events);
    if (errors.length) {
      if (faults.omitPointers) errors = errors.map((e) => ({ ...e, source: {} }));
      if (faults.errorsPerAnswer) errors = errors.slice(0, Math.max(1, faults.errorsPerAnswer));
      return fail(res, 400, errors, rlHeaders);
    }

    storeEvents(v.events);
    if (roll < pDropAfter) {
      store.counters.injected_faults++;
      store.counters.dropped_after_accept++;
      req.socket.destroy();
      return;
    }
    if (faults.lateAnswer && dice() < faults.lateAnswer) await new Promise((r) => setTimeout(r, faults.lateAnswerMs ?? 2000));
    store.counters.accepted_requests++;
    res.writeHead(202, { 'content-length': '0', ...rlHeaders });
    res.end();
  }

  async function handleLocal(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const q = url.searchParams;
    if (req.method === 'GET' && path === '/_local/events') {
      let list = store.events;
      const metric = q.get('metric');
      const uid = q.get('unique_id');
      const pid = q.get('profile_id');
      if (metric || uid || pid) list = list.filter((e) => (!metric || e.metric === metric) && (!uid || e.unique_id === uid) && (!pid || e.profile_id === pid));
      const offset = Number(q.get('offset') ?? 0);
      const limit = Number(q.get('limit') ?? 1000);
      return send(res, 200, { data: list.slice(offset, offset + limit), total: list.length, offset, limit });
    }
    if (req.method === 'GET' && path === '/_local/profiles') {
      const all = [...store.profiles.values()];
      const offset = Number(q.get('offset') ?? 0);
      const limit = Number(q.get('limit') ?? 1000);
      return send(res, 200, { data: all.slice(offset, offset + limit), total: all.length, offset, limit });
    }
    if (req.method === 'GET' && path === '/_local/stats') {
      return send(res, 200, {
        ...store.counters,
        profiles: store.profiles.size,
        stored_events: store.events.length,
        window_origin: new Date(origin).toISOString(),
        window_origin_ms: origin,
        bulk_windows: [...bulkWindows.values()],
      });
    }
    if (req.method === 'GET' && path === '/_local/faults') return send(res, 200, faults);
    if (req.method === 'GET' && path === '/_local/limits') return send(res, 200, limits);
    if (req.method === 'POST' && path === '/_local/reset') {
      await readBody(req, 0);
      store.reset();
      windows.clear();
      bulkWindows.clear();
      return send(res, 200, { ok: true });
    }
    if (req.method === 'PUT' && (path === '/_local/faults' || path === '/_local/limits')) {
      const raw = await readBody(req, 1024 * 1024);
      let body: unknown;
      try {
        body = raw && raw.length ? JSON.parse(raw.toString('utf8')) : {};
        if (path === '/_local/faults') {
          setFaults(body as Faults);
          return send(res, 200, faults);
        }
        limits = checkLimits(body);
        windows.clear();
        return send(res, 200, limits);
      } catch (e) {
        return send(res, 400, { errors: [apiError(400, 'invalid', 'Invalid input.', (e as Error).message, { pointer: '/' })] });
      }
    }
    send(res, 404, { errors: [apiError(404, 'not_found', 'Not found.', `No route ${req.method} ${path}`, {})] });
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    let p: Promise<void>;
    if (req.method === 'POST' && url.pathname === '/api/event-bulk-create-jobs') p = handleEvents(req, res, true);
    else if (req.method === 'POST' && url.pathname === '/api/events') p = handleEvents(req, res, false);
    else if (url.pathname.startsWith('/_local/')) p = handleLocal(req, res, url);
    else p = Promise.resolve(send(res, 404, { errors: [apiError(404, 'not_found', 'Not found.', `No route ${req.method} ${url.pathname}`, {})] }));
    p.catch((e) => {
      if (!res.headersSent) send(res, 500, { errors: [apiError(500, 'error', 'A server error occurred.', String((e as Error).message), {})] });
    });
  });
  server.keepAliveTimeout = 65_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    store,
    windowOriginMs: origin,
    faults: () => ({ ...faults }),
    setFaults,
    limits: () => limits,
    setLimits: (l) => {
      limits = checkLimits(l);
      windows.clear();
    },
    windowStats: () => [...bulkWindows.values()],
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Checks a limits object (`{bulk, single}`, each null or `{burstPerSecond, steadyPerMinute, ...}`). */
export function checkLimits(l: unknown): LocalLimits {
  const one = (v: unknown, name: string): EndpointLimits | null => {
    if (v === null) return null;
    const e = v as EndpointLimits;
    if (typeof e !== 'object' || !(e.burstPerSecond > 0) || !(e.steadyPerMinute > 0)) throw new Error(`limits.${name} must be null or {burstPerSecond > 0, steadyPerMinute > 0}`);
    return e;
  };
  if (typeof l !== 'object' || l === null) throw new Error('limits must be an object {bulk, single}');
  const o = l as Partial<LocalLimits>;
  return { bulk: one(o.bulk ?? null, 'bulk'), single: one(o.single ?? null, 'single') };
}

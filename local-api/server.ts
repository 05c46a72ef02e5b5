/**
 * A local Klaviyo-compatible HTTP API: the destination of the demo, the tests and the benchmarks.
 * It enforces the documented contract of `POST /api/event-bulk-create-jobs` and `POST /api/events`
 * (auth and revision headers, body shapes and limits, fixed-window rate limits with 429 and
 * Retry-After, deduplication by unique_id), can inject faults on purpose, and lets tests read back
 * what it accepted:
 *
 * - `GET /_local/events?metric=&limit=` accepted events; `GET /_local/profiles`; `GET /_local/stats` counters
 * - `POST /_local/reset` forgets everything; `PUT /_local/faults` and `PUT /_local/limits` change behaviour
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { LocalStore } from './store.ts';
import { apiError, validateBulkBody, validateEventAttributes, type ApiError, type ValidEvent } from './validate.ts';

/** Klaviyo's documented limits per endpoint (requests per fixed window). */
export interface EndpointLimits {
  burstPerSecond: number;
  steadyPerMinute: number;
}

/** Rate limits per endpoint; `null` switches limiting off (benchmarks of the pipeline). */
export interface LocalLimits {
  bulk: EndpointLimits | null;
  single: EndpointLimits | null;
}

export const KLAVIYO_LIMITS: LocalLimits = {
  bulk: { burstPerSecond: 10, steadyPerMinute: 150 },
  single: { burstPerSecond: 350, steadyPerMinute: 3500 },
};

/** Faults injected into event endpoints; rates are probabilities in [0, 1]. */
export interface Faults {
  /** Share of requests answered 500. */
  error500?: number;
  /** Share answered 503. */
  error503?: number;
  /** Share whose connection is destroyed before any answer (after the body was read and, if `dropAfterAccept`, stored). */
  drop?: number;
  /** When true, dropped requests are processed (events stored) before the connection is cut: the client cannot know. */
  dropAfterAccept?: boolean;
  /** Delay in ms added to every answer. */
  slowMs?: number;
  /** The next N requests are answered 429 regardless of the windows. */
  burst429?: number;
}

export interface LocalApiOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Accepted private keys. Default `['pk_local_dev']`. */
  apiKeys?: string[];
  limits?: LocalLimits;
  faults?: Faults;
  /** Largest accepted body, bytes. Klaviyo: 5 MB. */
  maxBodyBytes?: number;
}

/** A running local API. */
export interface LocalKlaviyo {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  port: number;
  store: LocalStore;
  setFaults(f: Faults): void;
  setLimits(l: LocalLimits): void;
  close(): Promise<void>;
}

/** Earliest revision the local API accepts (the SDK 23.0.0 sends 2026-07-15). */
const MIN_REVISION = '2023-01-24';

class Window {
  private burstStart = 0;
  private burstCount = 0;
  private steadyStart = 0;
  private steadyCount = 0;
  /** @returns null when admitted, else seconds to wait. Also reports the steady window's state. */
  take(limits: EndpointLimits, now: number): { retryAfter: number | null; remaining: number; reset: number } {
    if (now - this.burstStart >= 1000) {
      this.burstStart = now - ((now - this.burstStart) % 1000);
      this.burstCount = 0;
    }
    if (now - this.steadyStart >= 60_000) {
      this.steadyStart = now - ((now - this.steadyStart) % 60_000);
      this.steadyCount = 0;
    }
    const reset = Math.max(1, Math.ceil((this.steadyStart + 60_000 - now) / 1000));
    if (this.steadyCount >= limits.steadyPerMinute) return { retryAfter: reset, remaining: 0, reset };
    if (this.burstCount >= limits.burstPerSecond) {
      return { retryAfter: Math.max(1, Math.ceil((this.burstStart + 1000 - now) / 1000)), remaining: limits.steadyPerMinute - this.steadyCount, reset };
    }
    this.burstCount++;
    this.steadyCount++;
    return { retryAfter: null, remaining: limits.steadyPerMinute - this.steadyCount, reset };
  }
}

/** Starts the local API. Resolves once it listens. */
export async function startLocalKlaviyo(opts: LocalApiOptions = {}): Promise<LocalKlaviyo> {
  const store = new LocalStore();
  const keys = new Set(opts.apiKeys ?? ['pk_local_dev']);
  let limits: LocalLimits = opts.limits ?? KLAVIYO_LIMITS;
  let faults: Faults = { ...(opts.faults ?? {}) };
  const maxBody = opts.maxBodyBytes ?? 5 * 1024 * 1024;
  const windows = new Map<string, Window>();
  const sockets = new Set<Socket>();

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/vnd.api+json', 'content-length': String(Buffer.byteLength(text)), ...headers });
    res.end(text);
  };
  const fail = (res: ServerResponse, status: number, errors: ApiError[], headers: Record<string, string> = {}) => {
    store.counters.rejected_requests++;
    send(res, status, { errors }, headers);
  };

  const readBody = (req: IncomingMessage): Promise<Buffer | null> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let tooBig = false;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBody) tooBig = true;
        else chunks.push(c);
      });
      req.on('end', () => resolve(tooBig ? null : Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const store1 = (v: ValidEvent) => {
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
    });
  };

  async function handleEvents(req: IncomingMessage, res: ServerResponse, bulk: boolean): Promise<void> {
    store.counters.requests++;
    const auth = req.headers.authorization ?? '';
    const key = auth.startsWith('Klaviyo-API-Key ') ? auth.slice('Klaviyo-API-Key '.length).trim() : '';
    if (!keys.has(key)) {
      await readBody(req);
      return fail(res, 401, [apiError(401, 'not_authenticated', 'Authentication credentials were not provided.', 'Missing or invalid private key.', { header: 'Authorization' })]);
    }
    const revision = String(req.headers.revision ?? '');
    if (!/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/.test(revision) || revision < MIN_REVISION) {
      await readBody(req);
      return fail(res, 400, [apiError(400, 'invalid_revision', 'Invalid revision.', `The revision header is missing or invalid: "${revision}".`, { header: 'revision' })]);
    }
    const endpointLimits = bulk ? limits.bulk : limits.single;
    let rl: { retryAfter: number | null; remaining: number; reset: number } | null = null;
    if (faults.burst429 && faults.burst429 > 0) {
      faults.burst429--;
      store.counters.throttled++;
      store.counters.injected_faults++;
      await readBody(req);
      return fail(res, 429, [apiError(429, 'throttled', 'Request was throttled.', 'Request was throttled. Expected available in 1 second.', {})], { 'retry-after': '1' });
    }
    if (endpointLimits) {
      const wk = `${key}\u0000${bulk ? 'bulk' : 'single'}`;
      let w = windows.get(wk);
      if (!w) windows.set(wk, (w = new Window()));
      rl = w.take(endpointLimits, Date.now());
      if (rl.retryAfter !== null) {
        store.counters.throttled++;
        await readBody(req);
        return fail(res, 429, [apiError(429, 'throttled', 'Request was throttled.', `Request was throttled. Expected available in ${rl.retryAfter} seconds.`, {})], {
          'retry-after': String(rl.retryAfter),
        });
      }
    }
    const rlHeaders: Record<string, string> = rl && endpointLimits
      ? { 'ratelimit-limit': String(endpointLimits.steadyPerMinute), 'ratelimit-remaining': String(rl.remaining), 'ratelimit-reset': String(rl.reset) }
      : {};
    const raw = await readBody(req);
    if (faults.slowMs) await new Promise((r) => setTimeout(r, faults.slowMs));
    const roll = Math.random();
    const p500 = faults.error500 ?? 0;
    const p503 = faults.error503 ?? 0;
    const pDrop = faults.drop ?? 0;
    if (roll < p500) {
      store.counters.injected_faults++;
      return fail(res, 500, [apiError(500, 'error', 'A server error occurred.', 'Injected fault.', {})], rlHeaders);
    }
    if (roll < p500 + p503) {
      store.counters.injected_faults++;
      return fail(res, 503, [apiError(503, 'service_unavailable', 'Service unavailable.', 'Injected fault.', {})], { ...rlHeaders, 'retry-after': '1' });
    }
    const dropNow = roll < p500 + p503 + pDrop;
    if (raw === null) {
      return fail(res, 413, [apiError(413, 'payload_too_large', 'Payload too large.', `The request body exceeds ${maxBody} bytes.`, {})], rlHeaders);
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return fail(res, 400, [apiError(400, 'parse_error', 'Malformed JSON.', 'The request body is not valid JSON.', { pointer: '/' })], rlHeaders);
    }
    const now = Date.now();
    let events: ValidEvent[];
    if (bulk) {
      const v = validateBulkBody(body, now);
      if (v.errors.length) return fail(res, 400, v.errors, rlHeaders);
      events = v.events;
    } else {
      const errors: ApiError[] = [];
      const data = (body as { data?: { type?: string; attributes?: Record<string, unknown> } }).data;
      const attrs = data?.attributes;
      const profileData = (attrs?.profile as { data?: unknown } | undefined)?.data;
      const ev = validateEventAttributes(attrs, profileData, '/data/attributes', '/data/attributes/profile', now, errors);
      if (!ev) return fail(res, 400, errors, rlHeaders);
      events = [ev];
    }
    if (dropNow) {
      store.counters.injected_faults++;
      if (faults.dropAfterAccept) for (const e of events) store1(e);
      req.socket.destroy();
      return;
    }
    for (const e of events) store1(e);
    store.counters.accepted_requests++;
    res.writeHead(202, { 'content-length': '0', ...rlHeaders });
    res.end();
  }

  async function handleLocal(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    if (req.method === 'GET' && path === '/_local/events') {
      const metric = url.searchParams.get('metric');
      const list = metric ? store.events.filter((e) => e.metric === metric) : store.events;
      const limit = Number(url.searchParams.get('limit') ?? list.length);
      return send(res, 200, { data: list.slice(0, limit), total: list.length });
    }
    if (req.method === 'GET' && path === '/_local/profiles') return send(res, 200, { data: [...store.profiles.values()] });
    if (req.method === 'GET' && path === '/_local/stats') return send(res, 200, { ...store.counters, profiles: store.profiles.size, stored_events: store.events.length });
    if (req.method === 'POST' && path === '/_local/reset') {
      store.reset();
      windows.clear();
      return send(res, 200, { ok: true });
    }
    const raw = await readBody(req);
    const body = raw && raw.length ? JSON.parse(raw.toString('utf8')) : {};
    if (req.method === 'PUT' && path === '/_local/faults') {
      faults = { ...body };
      return send(res, 200, faults);
    }
    if (req.method === 'PUT' && path === '/_local/limits') {
      limits = body as LocalLimits;
      windows.clear();
      return send(res, 200, limits);
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
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    store,
    setFaults: (f) => {
      faults = { ...f };
    },
    setLimits: (l) => {
      limits = l;
      windows.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

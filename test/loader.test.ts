/**
 * The loader against the real local Klaviyo-compatible API over HTTP, through each real sender (the
 * default `node:http` one and the official SDK's):
 * partial failures (400 with pointers, with one pointer per answer, without pointers), 401/403,
 * request-level 400, 404, 413, 429 with Retry-After, 5xx, dropped connections before and after the
 * server stored the events, slow answers past the client's timeout, the deadline and cancellation.
 * Every case checks the accounting: accepted + duplicates + rejects = events, and what the server stored.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpSender } from '../activities/klaviyo/http-sender.ts';
import { sdkSender } from '../activities/klaviyo/sdk-sender.ts';
import type { KlaviyoTarget } from '../activities/klaviyo/target.ts';
import type { BulkSender } from '../loading/loader.ts';
import { loadEvents, KlaviyoAuthError, KlaviyoRequestError, LoadDeadlineError, type LoadOptions, type LoadResult } from '../loading/loader.ts';
import { RateLimiter } from '../loading/rate-limiter.ts';
import type { KlaviyoEvent } from '../mapping/types.ts';
import { startLocalKlaviyo, type LocalKlaviyo } from '../local-api/server.ts';

const KEY = 'pk_loader_test_0123456789';
const OFF = { bulk: null, single: null };
let api: LocalKlaviyo;
/** The sender under test (set per `describe.each` block). */
let makeSender: (t: KlaviyoTarget) => BulkSender = httpSender;

beforeAll(async () => {
  api = await startLocalKlaviyo({ apiKeys: [KEY, { key: 'pk_read_only_1234', scopes: ['events:read'] }], limits: OFF });
});
afterAll(() => api.close());
afterEach(() => {
  api.store.reset();
  api.setFaults({});
});

function ev(i: number, over: Partial<KlaviyoEvent> = {}): KlaviyoEvent {
  return {
    metric: 'Placed Order',
    time: new Date(Date.UTC(2025, 2, 1, 12) + i * 1000).toISOString(),
    profile: { email: `c${i % 13}@shop.org`, external_id: `C-${i % 13}` },
    unique_id: `o-${i}`,
    value: 10 + i,
    value_currency: 'EUR',
    properties: { sku: `S-${i}`, qty: 1 + (i % 3) },
    ...over,
  };
}
const range = (n: number, from = 0) => Array.from({ length: n }, (_, k) => ev(from + k));

function opts(over: Partial<LoadOptions> = {}): LoadOptions {
  return {
    sender: makeSender({ apiKey: KEY, baseUrl: api.url, timeoutMs: 5_000 }),
    limiter: new RateLimiter(null),
    backfill: false,
    baseBackoffMs: 20,
    maxBackoffMs: 200,
    ...over,
  };
}

const storedIds = () => api.store.events.map((e) => e.unique_id!).sort();
const ids = (events: KlaviyoEvent[]) => events.map((e) => e.unique_id).sort();
function balanced(r: LoadResult, n: number) {
  expect(r.accepted + r.duplicates + r.rejects.length).toBe(n);
}

describe.each(['http', 'sdk'] as const)('loader against the local Klaviyo API (%s sender)', (client) => {
  beforeAll(() => {
    makeSender = client === 'http' ? httpSender : sdkSender;
  });

  it('loads every event once, grouped per profile, with backfill when asked', async () => {
    const events = range(2_500);
    const r = await loadEvents(events, opts({ backfill: true, maxEvents: 1000 }));
    expect(r).toMatchObject({ accepted: 2_500, duplicates: 0, rejects: [], requests: 3, throttled: 0, retries: 0 });
    expect(storedIds()).toEqual(ids(events));
    expect(api.store.events.every((e) => e.backfill)).toBe(true);
    expect(api.store.profiles.size).toBe(13);
    const e7 = api.store.events.find((e) => e.unique_id === 'o-7')!;
    expect(e7).toMatchObject({ metric: 'Placed Order', time: ev(7).time, value: 17, value_currency: 'EUR', properties: { sku: 'S-7', qty: 2 } });
    expect(api.store.profiles.get(e7.profile_id)).toMatchObject({ email: 'c7@shop.org', external_id: 'C-7' });
  });

  it('does not send a repeat of (profile, metric, unique_id) within the page and counts it', async () => {
    const events = [...range(10), ev(3, { properties: { sku: 'again' } }), ev(4)];
    const r = await loadEvents(events, opts());
    expect(r.accepted).toBe(10);
    expect(r.duplicates).toBe(2);
    balanced(r, 12);
    expect(api.store.events.find((e) => e.unique_id === 'o-3')!.properties.sku).toBe('S-3');
    expect(api.store.counters.duplicate_events).toBe(0);
  });

  const invalid = () => [
    ev(1001, { profile: { email: 'not-an-email' } }),
    ev(1002, { time: '2101-01-01T00:00:00Z' }),
    ev(1003, { unique_id: 'u'.repeat(256) }),
    ev(1004, { metric: 'm'.repeat(128) }),
    ev(1005, { value_currency: 'euro' }),
  ];
  const mixed = () => {
    const valid = range(300);
    const bad = invalid();
    // Scatter the bad ones between valid events.
    const all = [...valid];
    bad.forEach((b, k) => all.splice(40 + k * 53, 0, b));
    return { valid, bad, all };
  };

  for (const [name, faults] of [
    ['with a pointer per bad item', {}],
    ['with one pointer per answer', { errorsPerAnswer: 1 }],
    ['without usable pointers (split until isolated)', { omitPointers: true }],
  ] as const) {
    it(`a batch with a few invalid items loads every valid one and rejects each invalid one: ${name}`, async () => {
      api.setFaults(faults);
      const { valid, bad, all } = mixed();
      const r = await loadEvents(all, opts());
      balanced(r, all.length);
      expect(r.accepted).toBe(valid.length);
      expect(storedIds()).toEqual(ids(valid));
      expect(r.rejects.map((x) => x.event.unique_id).sort()).toEqual(ids(bad));
      expect(r.rejects.every((x) => x.reason === 'api_rejected')).toBe(true);
      const detail = (uid: string) => r.rejects.find((x) => x.event.unique_id === uid)!.detail;
      if (!('omitPointers' in faults)) {
        expect(detail('o-1001')).toMatch(/^profile\.email: Invalid email address: not-an-email/);
        expect(detail('o-1002')).toMatch(/^time: Event time must not be more than one year in the future/);
        expect(detail('u'.repeat(256))).toMatch(/^unique_id: unique_id must be a string of 1 to 255 characters/);
        expect(detail('o-1004')).toMatch(/^metric\.name: A metric name of 1 to 127 characters/);
        expect(detail('o-1005')).toMatch(/^value_currency: /);
      } else {
        expect(detail('o-1002')).toMatch(/^HTTP 400: Event time must not be more than one year in the future/);
        // Halving isolates k bad items among n in at most 1 + 2k*ceil(log2 n) requests (here 91), far
        // fewer than one request per event (305).
        expect(r.requests).toBeLessThanOrEqual(1 + 2 * 5 * Math.ceil(Math.log2(all.length)));
      }
    });
  }

  it('fails with a clear, key-free error on 401 and 403, storing nothing', async () => {
    const bad = loadEvents(range(5), opts({ sender: makeSender({ apiKey: 'pk_wrong_secret_value', baseUrl: api.url }) }));
    await expect(bad).rejects.toBeInstanceOf(KlaviyoAuthError);
    const e401 = (await bad.catch((e) => e)) as KlaviyoAuthError;
    expect(e401.status).toBe(401);
    expect(e401.message).toMatch(/refused the API key \(HTTP 401\): check that KLAVIYO_API_KEY/);
    expect(e401.message).not.toContain('pk_wrong_secret_value');
    const ro = (await loadEvents(range(5), opts({ sender: makeSender({ apiKey: 'pk_read_only_1234', baseUrl: api.url }) })).catch((e) => e)) as KlaviyoAuthError;
    expect(ro).toBeInstanceOf(KlaviyoAuthError);
    expect(ro.status).toBe(403);
    expect(ro.message).toMatch(/lacks the events:write scope/);
    expect(ro.message).not.toContain('pk_read_only_1234');
    expect(api.store.events).toHaveLength(0);
  });

  it('fails (not retryable) on a 400 about the request itself instead of rejecting its events', async () => {
    const strict = await startLocalKlaviyo({ apiKeys: [KEY], limits: OFF, minRevision: '2099-01-01' });
    try {
      const e = (await loadEvents(range(50), opts({ sender: makeSender({ apiKey: KEY, baseUrl: strict.url }) })).catch((x) => x)) as KlaviyoRequestError;
      expect(e).toBeInstanceOf(KlaviyoRequestError);
      expect(e.retryable).toBe(false);
      expect(e.message).toMatch(/refused the bulk request as a whole \(HTTP 400\): The revision header .* \(header revision\)/);
      expect(strict.store.events).toHaveLength(0);
    } finally {
      await strict.close();
    }
  });

  it('stops (not retryable) when every event sent alone is refused without a pointer and none is accepted', async () => {
    api.setFaults({ omitPointers: true });
    const allBad = range(40).map((e) => ({ ...e, time: '2101-01-01T00:00:00Z' }));
    const e = (await loadEvents(allBad, opts()).catch((x) => x)) as KlaviyoRequestError;
    expect(e).toBeInstanceOf(KlaviyoRequestError);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/refused each of 10 events sent alone \(HTTP 400\) without naming a field, and accepted none: .*one year in the future/);
    expect(api.store.events).toHaveLength(0);
  });

  it('fails (not retryable) on 404 from a wrong base URL', async () => {
    const e = (await loadEvents(range(3), opts({ sender: makeSender({ apiKey: KEY, baseUrl: `${api.url}/wrong` }) })).catch((x) => x)) as KlaviyoRequestError;
    expect(e).toBeInstanceOf(KlaviyoRequestError);
    expect(e.status).toBe(404);
    expect(e.message).toMatch(/HTTP 404 .*check KLAVIYO_BASE_URL/);
  });

  it('splits a request the server finds too large (413) until it fits, never re-sending it as is', async () => {
    const small = await startLocalKlaviyo({ apiKeys: [KEY], limits: OFF, maxBodyBytes: 40_000 });
    try {
      const events = range(600);
      const huge = ev(9_999, { properties: { blob: 'z'.repeat(60_000) } });
      const r = await loadEvents([...events, huge], opts({ sender: makeSender({ apiKey: KEY, baseUrl: small.url }) }));
      balanced(r, 601);
      expect(r.accepted).toBe(600);
      expect(r.splits).toBeGreaterThan(3);
      expect(r.rejects).toEqual([{ event: huge, reason: 'payload_too_large', detail: expect.stringMatching(/^HTTP 413: The request body exceeds 40000 bytes/) }]);
      expect(small.store.events.map((e) => e.unique_id).sort()).toEqual(ids(events));
      expect(small.store.counters.duplicate_events).toBe(0);
    } finally {
      await small.close();
    }
  });

  it('waits Retry-After (plus jitter) after 429s, then loads everything', async () => {
    api.setFaults({ burst429: 3, retryAfter: 1 });
    const limiter = new RateLimiter(null);
    const t0 = Date.now();
    const r = await loadEvents(range(3_000), opts({ limiter, concurrency: 3 }));
    expect(r.throttled).toBe(3);
    expect(r.accepted).toBe(3_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
    expect(limiter.stats().throttled).toBe(3);
    expect(api.store.events).toHaveLength(3_000);
  });

  it('retries 500/503, dropped connections and timeouts; events stored before a lost answer are not doubled', async () => {
    api.setFaults({ error500: 0.15, error503: 0.1, drop: 0.1, dropAfterAccept: 0.15, slow: 0.1, slowMs: 1_500, lateAnswer: 0.1, lateAnswerMs: 1_500, seed: 7 });
    const events = range(20_000);
    const r = await loadEvents(events, opts({ sender: makeSender({ apiKey: KEY, baseUrl: api.url, timeoutMs: 1_000 }), maxEvents: 500 }));
    balanced(r, 20_000);
    expect(r.accepted).toBe(20_000);
    expect(r.retries).toBeGreaterThan(5);
    const c = api.store.counters;
    expect(c.dropped_after_accept).toBeGreaterThan(0);
    // Every event of a request whose answer was lost (or came after the client's timeout) arrived
    // again and was dropped as a duplicate.
    expect(c.duplicate_events).toBeGreaterThanOrEqual(c.dropped_after_accept * 500);
    expect(c.duplicate_events % 500).toBe(0);
    expect(storedIds()).toEqual(ids(events));
  });

  it('gives up with LoadDeadlineError when retries would pass the deadline', async () => {
    api.setFaults({ error503: 1 });
    const t0 = Date.now();
    const e = await loadEvents(range(10), opts({ deadline: t0 + 1_500, baseBackoffMs: 200 })).catch((x) => x);
    expect(e).toBeInstanceOf(LoadDeadlineError);
    expect((e as Error).message).toMatch(/before the activity's deadline: attempt \d+ got HTTP 503/);
    expect(Date.now()).toBeLessThanOrEqual(t0 + 1_500 + 1_000);
    expect(api.store.events).toHaveLength(0);
  });

  it('stops when cancelled', async () => {
    api.setFaults({ error500: 1 });
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(new Error('activity cancelled')), 300);
    await expect(loadEvents(range(10), opts({ signal: ctrl.signal }))).rejects.toThrow('activity cancelled');
  });

  it('reports progress while waiting', async () => {
    api.setFaults({ burst429: 1, retryAfter: 2 });
    const seen: number[] = [];
    const r = await loadEvents(range(50), opts({ onProgress: (p) => seen.push(p.pending), heartbeatMs: 300 }));
    expect(r.accepted).toBe(50);
    // Heartbeats during the 2 s Retry-After wait report the 50 pending events, the last report none.
    expect(seen.filter((p) => p === 50).length).toBeGreaterThanOrEqual(3);
    expect(seen.at(-1)).toBe(0);
  });
});


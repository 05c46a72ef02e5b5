/**
 * The local Klaviyo-compatible API's contract, over plain HTTP (fetch): auth and scopes, revision and
 * content type, validation with Klaviyo-style errors and pointers, limits (1,000 events, 5 MB),
 * deduplication per (profile, metric, unique_id) with the first event winning, profile resolution,
 * fixed-window rate limits with RateLimit-* headers and 429 + Retry-After, injected faults (set at start
 * and over HTTP), read-back endpoints, and the `dwh-import local-api` command's startup line.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLocalKlaviyo, type LocalKlaviyo } from '../local-api/server.ts';

const KEY = 'pk_local_api_test_123';
let api: LocalKlaviyo;

beforeAll(async () => {
  api = await startLocalKlaviyo({ apiKeys: [KEY, { key: 'pk_no_write_scope', scopes: ['events:read'] }], limits: { bulk: null, single: null } });
});
afterAll(() => api.close());
afterEach(() => {
  api.store.reset();
  api.setFaults({});
  api.setLimits({ bulk: null, single: null });
});

const HEADERS = { Authorization: `Klaviyo-API-Key ${KEY}`, revision: '2026-07-15', 'Content-Type': 'application/vnd.api+json', Accept: 'application/vnd.api+json' };

interface WireEvent {
  metric?: string;
  unique_id?: string;
  time?: string;
  properties?: unknown;
  value?: unknown;
  value_currency?: unknown;
  backfill?: unknown;
}
const wireEvent = (e: WireEvent) => ({
  type: 'event',
  attributes: {
    properties: e.properties ?? { sku: 'A' },
    time: e.time ?? '2025-03-01T10:00:00Z',
    unique_id: e.unique_id,
    ...(e.value !== undefined ? { value: e.value } : {}),
    ...(e.value_currency !== undefined ? { value_currency: e.value_currency } : {}),
    ...(e.backfill !== undefined ? { backfill: e.backfill } : {}),
    metric: { data: { type: 'metric', attributes: { name: e.metric ?? 'Placed Order' } } },
  },
});
const group = (profile: Record<string, unknown>, events: WireEvent[]) => ({
  type: 'event-bulk-create',
  attributes: { profile: { data: { type: 'profile', ...profile } }, events: { data: events.map(wireEvent) } },
});
const bulk = (...groups: unknown[]) => ({ data: { type: 'event-bulk-create-job', attributes: { 'events-bulk-create': { data: groups } } } });

async function post(body: unknown, headers: Record<string, string> = HEADERS, path = '/api/event-bulk-create-jobs') {
  const res = await fetch(`${api.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = (r: Response): Promise<any> => r.json();
const pointers = (b: { errors: { source: { pointer?: string } }[] }) => b.errors.map((e) => e.source.pointer);

describe('local Klaviyo API: auth, headers, shape', () => {
  it('answers 401 without a known key and 403 without the events:write scope, with Klaviyo-style errors', async () => {
    const body = bulk(group({ attributes: { email: 'a@shop.org' } }, [{ unique_id: 'u1' }]));
    const none = await post(body, { ...HEADERS, Authorization: '' });
    expect(none.status).toBe(401);
    expect(none.body.errors[0]).toMatchObject({ status: 401, code: 'not_authenticated', source: { header: 'Authorization' } });
    expect((await post(body, { ...HEADERS, Authorization: 'Klaviyo-API-Key pk_unknown' })).status).toBe(401);
    const ro = await post(body, { ...HEADERS, Authorization: 'Klaviyo-API-Key pk_no_write_scope' });
    expect(ro.status).toBe(403);
    expect(ro.body.errors[0]).toMatchObject({ status: 403, code: 'permission_denied', detail: 'The API key is missing the events:write scope.' });
    expect(api.store.events).toHaveLength(0);
  });

  it('requires a valid revision header and a JSON content type', async () => {
    const body = bulk(group({ attributes: { email: 'a@shop.org' } }, [{ unique_id: 'u1' }]));
    const { revision: _r, ...noRevision } = HEADERS;
    const r1 = await post(body, noRevision);
    expect(r1.status).toBe(400);
    expect(r1.body.errors[0]).toMatchObject({ code: 'invalid_revision', source: { header: 'revision' } });
    expect((await post(body, { ...HEADERS, revision: '2019-01-01' })).status).toBe(400);
    expect((await post(body, { ...HEADERS, revision: 'latest' })).status).toBe(400);
    expect((await post(body, { ...HEADERS, 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await post(body, { ...HEADERS, 'Content-Type': 'application/json' })).status).toBe(202);
  });

  it('accepts a valid bulk job with 202 and an empty body, and stores its events', async () => {
    const r = await post(
      bulk(
        group({ attributes: { email: 'ann@shop.org', external_id: 'C1' } }, [
          { unique_id: 'o1', value: 9.5, value_currency: 'EUR', properties: { sku: 'MUG', nested: { a: [1, 2] } } },
          { unique_id: 'o2', metric: 'Refunded Order', backfill: true },
        ]),
        group({ id: '01KNOWNPROFILE', attributes: {} }, [{ unique_id: 'o3' }]),
      ),
    );
    expect(r.status).toBe(202);
    expect(r.body).toBeUndefined();
    const events = api.store.events;
    expect(events.map((e) => [e.unique_id, e.metric, e.backfill])).toEqual([
      ['o1', 'Placed Order', false],
      ['o2', 'Refunded Order', true],
      ['o3', 'Placed Order', false],
    ]);
    expect(events[0]).toMatchObject({ value: 9.5, value_currency: 'EUR', properties: { sku: 'MUG', nested: { a: [1, 2] } }, time: '2025-03-01T10:00:00Z' });
    expect(events[0].profile_id).toBe(events[1].profile_id);
    expect(events[2].profile_id).toBe('01KNOWNPROFILE');
  });

  it('refuses invalid items with one error per item, each pointing at it, and stores nothing of that request', async () => {
    const r = await post(
      bulk(
        group({ attributes: { email: 'ok@shop.org' } }, [
          { unique_id: 'fine' },
          { unique_id: 'bad-time', time: '1989-12-31T23:59:59Z' },
          { unique_id: 'bad-time-2', time: '2025-03-01 10:00:00' },
          { unique_id: 'x'.repeat(256) },
          { unique_id: 'bad-metric', metric: '' },
          { unique_id: 'bad-value', value: '12' },
          { unique_id: 'bad-props', properties: 'nope' },
          { unique_id: 'bad-currency', value_currency: 'eur' },
          { unique_id: 'bad-backfill', backfill: 'yes' },
        ]),
        group({ attributes: { email: 'nope' } }, [{ unique_id: 'p1' }]),
        group({ attributes: { phone_number: '0301234567' } }, [{ unique_id: 'p2' }]),
        group({ attributes: {} }, [{ unique_id: 'p3' }]),
      ),
    );
    expect(r.status).toBe(400);
    const base = '/data/attributes/events-bulk-create/data';
    expect(pointers(r.body)).toEqual([
      `${base}/0/attributes/events/data/1/attributes/time`,
      `${base}/0/attributes/events/data/2/attributes/time`,
      `${base}/0/attributes/events/data/3/attributes/unique_id`,
      `${base}/0/attributes/events/data/4/attributes/metric/data/attributes/name`,
      `${base}/0/attributes/events/data/5/attributes/value`,
      `${base}/0/attributes/events/data/6/attributes/properties`,
      `${base}/0/attributes/events/data/7/attributes/value_currency`,
      `${base}/0/attributes/events/data/8/attributes/backfill`,
      `${base}/1/attributes/profile/data/attributes/email`,
      `${base}/2/attributes/profile/data/attributes/phone_number`,
      `${base}/3/attributes/profile/data/attributes`,
    ]);
    expect(r.body.errors[0]).toMatchObject({ status: 400, code: 'invalid', title: 'Invalid input.', detail: 'Event time must not be before 1990-01-01.' });
    expect(r.body.errors[8].detail).toBe('Invalid email address: nope');
    expect(api.store.events).toHaveLength(0);
    expect(api.store.counters.rejected_requests).toBe(1);
  });

  it('checks the property limits (string size, array length, nesting, count) with pointers into the properties', async () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 11; i++) deep = { d: deep };
    const many = Object.fromEntries(Array.from({ length: 401 }, (_, i) => [`k${i}`, i]));
    const r = await post(
      bulk(
        group({ attributes: { email: 'a@shop.org' } }, [
          { unique_id: 's', properties: { text: 'é'.repeat(60_000) } },
          { unique_id: 'a', properties: { list: Array.from({ length: 4001 }, () => 1) } },
          { unique_id: 'd', properties: deep },
          { unique_id: 'm', properties: many },
          { unique_id: 'n', properties: { 'a/b': { big: 2 ** 64 } } },
        ]),
      ),
    );
    expect(r.status).toBe(400);
    const p = '/data/attributes/events-bulk-create/data/0/attributes/events/data';
    expect(pointers(r.body)).toEqual([
      `${p}/0/attributes/properties/text`,
      `${p}/1/attributes/properties/list`,
      `${p}/2/attributes/properties/d/d/d/d/d/d/d/d/d/d`,
      `${p}/3/attributes/properties`,
      `${p}/4/attributes/properties/a~1b/big`,
    ]);
  });

  it('enforces 1,000 events and 5 MB per request, and backfill only from revision 2026-04-15', async () => {
    const tooMany = bulk(group({ attributes: { email: 'a@shop.org' } }, Array.from({ length: 1001 }, (_, i) => ({ unique_id: `u${i}` }))));
    const r1 = await post(tooMany);
    expect(r1.status).toBe(400);
    expect(r1.body.errors[0]).toMatchObject({ source: { pointer: '/data/attributes/events-bulk-create/data' }, detail: 'At most 1000 events are allowed per request; this one has 1001.' });
    const big = bulk(...Array.from({ length: 60 }, (_, g) => group({ attributes: { email: `g${g}@shop.org` } }, [{ unique_id: `u${g}`, properties: { t: 'x'.repeat(90_000) } }])));
    expect(JSON.stringify(big).length).toBeGreaterThan(5 * 1024 * 1024);
    const r2 = await post(big);
    expect(r2.status).toBe(413);
    expect(r2.body.errors[0]).toMatchObject({ status: 413, code: 'payload_too_large' });
    const old = await post(bulk(group({ attributes: { email: 'a@shop.org' } }, [{ unique_id: 'b', backfill: true }])), { ...HEADERS, revision: '2026-01-15' });
    expect(old.status).toBe(400);
    expect(old.body.errors[0].detail).toMatch(/backfill is accepted from revision 2026-04-15/);
    expect(api.store.events).toHaveLength(0);
  });

  it('answers 400 for malformed JSON and a wrong envelope', async () => {
    const r1 = await post('{"data": [');
    expect(r1.status).toBe(400);
    expect(r1.body.errors[0]).toMatchObject({ code: 'parse_error', source: { pointer: '/' } });
    const r2 = await post({ data: { type: 'event', attributes: {} } });
    expect(r2.status).toBe(400);
    expect(pointers(r2.body)).toEqual(['/data/type', '/data/attributes/events-bulk-create/data']);
  });
});

describe('local Klaviyo API: profiles and deduplication', () => {
  it('keeps the first event per (profile, metric, unique_id), across requests and identifiers', async () => {
    expect((await post(bulk(group({ attributes: { email: 'Ann@Shop.org' } }, [{ unique_id: 'o1', properties: { v: 'first' } }])))).status).toBe(202);
    // Same profile found by email (case-insensitive) and now also given an external id: a repeat.
    expect((await post(bulk(group({ attributes: { email: 'ann@shop.org', external_id: 'C9' } }, [{ unique_id: 'o1', properties: { v: 'second' } }])))).status).toBe(202);
    // Found by the external id alone: still the same profile, still a repeat.
    expect((await post(bulk(group({ attributes: { external_id: 'C9' } }, [{ unique_id: 'o1', properties: { v: 'third' } }])))).status).toBe(202);
    // Same unique_id, other metric or other profile: distinct events.
    expect((await post(bulk(group({ attributes: { external_id: 'C9' } }, [{ unique_id: 'o1', metric: 'Refunded Order' }])))).status).toBe(202);
    expect((await post(bulk(group({ attributes: { email: 'bob@shop.org' } }, [{ unique_id: 'o1' }])))).status).toBe(202);
    const events = api.store.events;
    expect(events.map((e) => [e.metric, e.unique_id, (e.properties as { v?: string }).v])).toEqual([
      ['Placed Order', 'o1', 'first'],
      ['Refunded Order', 'o1', undefined],
      ['Placed Order', 'o1', undefined],
    ]);
    expect(api.store.counters.duplicate_events).toBe(2);
    expect(api.store.profiles.size).toBe(2);
    const ann = api.store.profiles.get(events[0].profile_id)!;
    expect(ann).toMatchObject({ email: 'Ann@Shop.org', external_id: 'C9' });
  });

  it('without unique_id keys on the time truncated to the second', async () => {
    const g = (time: string) => group({ attributes: { email: 'a@shop.org' } }, [{ time }]);
    await post(bulk(g('2025-03-01T10:00:00.100Z')));
    await post(bulk(g('2025-03-01T10:00:00.900Z')));
    await post(bulk(g('2025-03-01T10:00:01.000Z')));
    expect(api.store.events.map((e) => e.time)).toEqual(['2025-03-01T10:00:00.100Z', '2025-03-01T10:00:01.000Z']);
  });

  it('refuses a request that repeats a unique_id for one profile and metric, even under other identifiers', async () => {
    const r = await post(
      bulk(
        group({ attributes: { email: 'a@shop.org' } }, [{ unique_id: 'dup' }, { unique_id: 'other' }]),
        group({ attributes: { email: 'a@shop.org', external_id: 'X1' } }, [{ unique_id: 'dup' }]),
        group({ attributes: { email: 'z@shop.org' } }, [{ unique_id: 'dup' }]),
      ),
    );
    expect(r.status).toBe(400);
    expect(pointers(r.body)).toEqual(['/data/attributes/events-bulk-create/data/1/attributes/events/data/0/attributes/unique_id']);
    expect(api.store.events).toHaveLength(0);
  });

  it('creates one event with POST /api/events', async () => {
    const body = { data: { type: 'event', attributes: { ...wireEvent({ unique_id: 'single-1' }).attributes, profile: { data: { type: 'profile', attributes: { phone_number: '+4930123456' } } } } } };
    expect((await post(body, HEADERS, '/api/events')).status).toBe(202);
    const bad = await post({ data: { type: 'event', attributes: { ...body.data.attributes, time: 'yesterday' } } }, HEADERS, '/api/events');
    expect(bad.status).toBe(400);
    expect(pointers(bad.body)).toEqual(['/data/attributes/time']);
    expect(api.store.events.map((e) => e.unique_id)).toEqual(['single-1']);
    expect([...api.store.profiles.values()][0].phone_number).toBe('+4930123456');
  });
});

describe('local Klaviyo API: rate limits', () => {
  it('counts fixed windows from its own origin, sends RateLimit-* headers, and 429 with Retry-After when a window is spent', async () => {
    const origin = Date.now() - 1_000; // 59 s left in the current minute window
    const limited = await startLocalKlaviyo({ apiKeys: [KEY], limits: { bulk: { burstPerSecond: 3, steadyPerMinute: 5 }, single: null }, windowOriginMs: origin });
    try {
      const body = JSON.stringify(bulk(group({ attributes: { email: 'a@shop.org' } }, [{ unique_id: 'x' }])));
      const send = () => fetch(`${limited.url}/api/event-bulk-create-jobs`, { method: 'POST', headers: HEADERS, body });
      // Send each group just after a server second starts, so that it falls in one burst window.
      const nextSecond = () => new Promise((r) => setTimeout(r, 1_000 - ((Date.now() - origin) % 1_000) + 20));
      await nextSecond();
      const burst = await Promise.all([send(), send(), send(), send()]);
      const statuses = burst.map((r) => r.status).sort();
      expect(statuses).toEqual([202, 202, 202, 429]);
      const ok = burst.find((r) => r.status === 202)!;
      expect(ok.headers.get('ratelimit-limit')).toBe('5');
      expect(Number(ok.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(57);
      expect(Number(ok.headers.get('ratelimit-reset'))).toBeLessThanOrEqual(59);
      const throttled = burst.find((r) => r.status === 429)!;
      expect(throttled.headers.get('retry-after')).toBe('1');
      expect(throttled.headers.get('ratelimit-remaining')).toBeNull();
      expect((await json(throttled)).errors[0]).toMatchObject({ status: 429, code: 'throttled' });
      await nextSecond();
      const more = await Promise.all([send(), send(), send()]);
      expect(more.map((r) => r.status).sort()).toEqual([202, 202, 429]);
      const last = more.find((r) => r.status === 429)!;
      // The minute's 5 are spent: Retry-After is the time to the end of the server's window.
      expect(Number(last.headers.get('retry-after'))).toBeGreaterThanOrEqual(56);
      expect(limited.windowStats()).toEqual([{ index: 0, start: origin, admitted: 5, throttled: 1, throttledBurst: 1 }]);
      expect(limited.store.counters.throttled).toBe(2);
    } finally {
      await limited.close();
    }
  });
});

describe('local Klaviyo API: faults and read-back', () => {
  it('injects faults set over HTTP and reports them in the counters', async () => {
    const put = await fetch(`${api.url}/_local/faults`, { method: 'PUT', body: JSON.stringify({ burst429: 2, retryAfter: 3 }) });
    expect(await json(put)).toEqual({ burst429: 2, retryAfter: 3 });
    const body = bulk(group({ attributes: { email: 'a@shop.org' } }, [{ unique_id: 'f1' }]));
    const a = await post(body);
    expect(a.status).toBe(429);
    expect(a.headers.get('retry-after')).toBe('3');
    expect((await post(body)).status).toBe(429);
    expect((await post(body)).status).toBe(202);

    await fetch(`${api.url}/_local/faults`, { method: 'PUT', body: JSON.stringify({ error503: 1 }) });
    const u = await post(body);
    expect(u.status).toBe(503);
    expect(u.headers.get('retry-after')).toBe('1');

    await fetch(`${api.url}/_local/faults`, { method: 'PUT', body: JSON.stringify({ dropAfterAccept: 1 }) });
    await expect(post(bulk(group({ attributes: { email: 'a@shop.org' } }, [{ unique_id: 'f2' }])))).rejects.toThrow();
    await fetch(`${api.url}/_local/faults`, { method: 'PUT', body: JSON.stringify({ drop: 1 }) });
    await expect(post(bulk(group({ attributes: { email: 'a@shop.org' } }, [{ unique_id: 'f3' }])))).rejects.toThrow();

    const bad = await fetch(`${api.url}/_local/faults`, { method: 'PUT', body: JSON.stringify({ error500: 2 }) });
    expect(bad.status).toBe(400);
    expect((await json(bad)).errors[0].detail).toBe('error500 is a share and must be between 0 and 1');
    expect((await fetch(`${api.url}/_local/faults`, { method: 'PUT', body: JSON.stringify({ eror500: 0.1 }) })).status).toBe(400);

    const stats = await json(await fetch(`${api.url}/_local/stats`));
    // f1 stored; f2 stored before the connection was cut; f3 cut before processing.
    expect(stats).toMatchObject({ requests: 6, accepted_requests: 1, stored_events: 2, throttled: 2, dropped_after_accept: 1, dropped_before_accept: 1, injected_faults: 5 });
    expect(api.store.events.map((e) => e.unique_id)).toEqual(['f1', 'f2']);
  });

  it('answers 400 without pointers when asked, and fewer errors per answer when asked', async () => {
    const body = bulk(group({ attributes: { email: 'a@shop.org' } }, [{ unique_id: 'a', time: 'x' }, { unique_id: 'b', time: 'y' }]));
    api.setFaults({ omitPointers: true });
    const r1 = await post(body);
    expect(r1.body.errors.map((e: { source: object }) => e.source)).toEqual([{}, {}]);
    api.setFaults({ errorsPerAnswer: 1 });
    const r2 = await post(body);
    expect(pointers(r2.body)).toEqual(['/data/attributes/events-bulk-create/data/0/attributes/events/data/0/attributes/time']);
  });

  it('reads back events (filtered, paged) and profiles, and resets', async () => {
    await post(bulk(group({ attributes: { email: 'a@shop.org' } }, [{ unique_id: 'r1' }, { unique_id: 'r2', metric: 'Refunded Order' }, { unique_id: 'r3' }])));
    const all = await json(await fetch(`${api.url}/_local/events?limit=2`));
    expect(all.total).toBe(3);
    expect(all.data.map((e: { unique_id: string }) => e.unique_id)).toEqual(['r1', 'r2']);
    const page2 = await json(await fetch(`${api.url}/_local/events?offset=2&limit=2`));
    expect(page2.data.map((e: { unique_id: string }) => e.unique_id)).toEqual(['r3']);
    const refunded = await json(await fetch(`${api.url}/_local/events?metric=Refunded%20Order`));
    expect(refunded.data.map((e: { unique_id: string }) => e.unique_id)).toEqual(['r2']);
    const profiles = await json(await fetch(`${api.url}/_local/profiles`));
    expect(profiles.data).toEqual([{ id: all.data[0].profile_id, email: 'a@shop.org' }]);
    await fetch(`${api.url}/_local/reset`, { method: 'POST' });
    expect((await json(await fetch(`${api.url}/_local/stats`))).stored_events).toBe(0);
  });
});

describe('dwh-import local-api', () => {
  it('starts with a clear startup line, honours fault flags, and stops on SIGTERM', async () => {
    const bin = fileURLToPath(new URL('../bin/dwh-import.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'local-api', '--port', '0', '--api-key', KEY, '--fail-503', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      expect(line).toMatch(/^local Klaviyo API listening on http:\/\/127\.0\.0\.1:\d+ \(keys: pk_lo\.\.\.; limits bulk 10\/1s \+ 150\/60s, single 350\/1s \+ 3500\/60s; faults error503=1\)$/);
      expect(line).not.toContain(KEY);
      const url = /listening on (\S+)/.exec(line)![1];
      const res = await fetch(`${url}/api/event-bulk-create-jobs`, { method: 'POST', headers: HEADERS, body: JSON.stringify(bulk(group({ attributes: { email: 'a@shop.org' } }, [{ unique_id: 'x' }]))) });
      expect(res.status).toBe(503);
      expect(res.headers.get('ratelimit-remaining')).toBe('149');
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});

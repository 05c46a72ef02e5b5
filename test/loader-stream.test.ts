/**
 * The loader's streaming form (`openLoad`) against the real local Klaviyo API over HTTP: events written
 * chunk by chunk fill whole requests across chunks, repeats are dropped across chunks, two events with
 * the same metric and unique_id under different identifiers never share a request, rejects come back
 * with the tag they were written with, and `write` holds the caller back while enough requests wait
 * (the number of events written but not yet answered stays bounded, whatever is written).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpSender } from '../activities/klaviyo/http-sender.ts';
import type { BulkBatch } from '../loading/bulk.ts';
import { openLoad, KlaviyoAuthError, type BulkSender } from '../loading/loader.ts';
import { RateLimiter } from '../loading/rate-limiter.ts';
import type { KlaviyoEvent } from '../mapping/types.ts';
import { startLocalKlaviyo, type LocalKlaviyo } from '../local-api/server.ts';

const KEY = 'pk_loader_stream_0123456789';
let api: LocalKlaviyo;

beforeAll(async () => {
  api = await startLocalKlaviyo({ apiKeys: [KEY], limits: { bulk: null, single: null } });
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
    profile: { email: `c${i % 17}@shop.org` },
    unique_id: `o-${i}`,
    value: 10 + i,
    value_currency: 'EUR',
    properties: { sku: `S-${i}` },
    ...over,
  };
}

/** The HTTP sender, recording what each request held and how many events have been answered. */
function recordingSender(): BulkSender & { requests: { ids: string[]; keys: string[] }[]; answered: number } {
  const inner = httpSender({ apiKey: KEY, baseUrl: api.url, timeoutMs: 10_000 });
  const self = {
    accountId: inner.accountId,
    requests: [] as { ids: string[]; keys: string[] }[],
    answered: 0,
    async send(batch: BulkBatch<unknown>, opts?: { signal?: AbortSignal }) {
      const body = JSON.parse(batch.body()) as { data: { attributes: { 'events-bulk-create': { data: { attributes: { events: { data: { attributes: { unique_id: string; metric: { data: { attributes: { name: string } } } } }[] } } }[] } } } };
      const ids: string[] = [];
      const keys: string[] = [];
      for (const g of body.data.attributes['events-bulk-create'].data) {
        for (const e of g.attributes.events.data) {
          ids.push(e.attributes.unique_id);
          keys.push(`${e.attributes.metric.data.attributes.name}|${e.attributes.unique_id}`);
        }
      }
      self.requests.push({ ids, keys });
      try {
        return await inner.send(batch, opts);
      } finally {
        self.answered += batch.items.length;
      }
    },
  };
  return self;
}

const chunksOf = <T>(list: T[], n: number): T[][] => Array.from({ length: Math.ceil(list.length / n) }, (_, k) => list.slice(k * n, (k + 1) * n));

describe('streaming loader (openLoad)', () => {
  it('fills whole requests across chunks, drops repeats across chunks and keeps same-id events of different identifiers apart', async () => {
    const sender = recordingSender();
    const load = openLoad<number>({ sender, limiter: new RateLimiter(null), backfill: false, concurrency: 2 });
    const events: KlaviyoEvent[] = Array.from({ length: 3_500 }, (_, i) => ev(i));
    // Repeats of earlier events (same identifiers, metric and unique_id) in later chunks: dropped.
    events.push(ev(5), ev(1_234, { properties: { sku: 'again' } }));
    // Same metric and unique_id as o-7 but other identifiers (may be the same person): sent, never with o-7.
    events.push(ev(7, { profile: { email: 'other@shop.org' } }));
    const tags = events.map((_, i) => i);
    for (const c of chunksOf(events.map((e, i) => [e, tags[i]] as const), 300)) {
      await load.write(
        c.map(([e]) => e),
        c.map(([, t]) => t),
      );
    }
    const r = await load.end();
    expect(r).toMatchObject({ accepted: 3_501, duplicates: 2, rejects: [], retries: 0 });
    // 3,501 events in chunks of 300 make four requests, the first three full.
    expect(sender.requests.map((q) => q.ids.length)).toEqual([1000, 1000, 1000, 501]);
    for (const q of sender.requests) expect(new Set(q.keys).size).toBe(q.keys.length);
    expect(api.store.events).toHaveLength(3_501);
    expect(api.store.events.find((e) => e.unique_id === 'o-1234')!.properties.sku).toBe('S-1234');
    expect(api.store.counters.duplicate_events).toBe(0);
  });

  it('hands each refused event back with the tag it was written with, across chunks', async () => {
    const sender = recordingSender();
    const load = openLoad<{ row: number }>({ sender, limiter: new RateLimiter(null), backfill: false });
    const bad = new Set([13, 400, 777, 1_999]);
    const events = Array.from({ length: 2_100 }, (_, i) => (bad.has(i) ? ev(i, { profile: { email: `not-an-email-${i}` } }) : ev(i)));
    for (const [k, c] of chunksOf(events, 250).entries()) await load.write(c, c.map((_, j) => ({ row: k * 250 + j })));
    const r = await load.end();
    expect(r.accepted).toBe(2_096);
    expect(r.rejects.map((x) => x.event.row).sort((a, b) => a - b)).toEqual([...bad]);
    expect(r.rejects.every((x) => x.reason === 'api_rejected' && /^profile\.email: Invalid email address: not-an-email-/.test(x.detail))).toBe(true);
    expect(api.store.events).toHaveLength(2_096);
  });

  it('holds the writer back: events written but not answered stay within the queued and in-flight requests', async () => {
    api.setFaults({ slowMs: 150 });
    const sender = recordingSender();
    const concurrency = 2;
    const maxQueued = 1;
    const load = openLoad<KlaviyoEvent>({ sender, limiter: new RateLimiter(null), backfill: false, concurrency, maxQueued, maxEvents: 100 });
    let worst = 0;
    const events = Array.from({ length: 3_000 }, (_, i) => ev(i));
    for (const c of chunksOf(events, 40)) {
      await load.write(c);
      worst = Math.max(worst, load.written - sender.answered);
    }
    const r = await load.end();
    expect(r.accepted).toBe(3_000);
    // In flight (2 requests) + queued (fewer than 1 more when write returns, plus what one chunk
    // completes) + the partly filled request: far below the 3,000 written.
    expect(worst).toBeLessThanOrEqual((concurrency + maxQueued + 1) * 100 + 40);
    expect(worst).toBeGreaterThan(100);
  });

  it('reports a failure to the writer and stops: 401 on the first request', async () => {
    const sender = httpSender({ apiKey: 'pk_wrong_0000000000', baseUrl: api.url });
    const load = openLoad({ sender, limiter: new RateLimiter(null), backfill: false, maxEvents: 10 });
    const events = Array.from({ length: 500 }, (_, i) => ev(i));
    let thrown: unknown;
    try {
      for (const c of chunksOf(events, 20)) await load.write(c);
    } catch (e) {
      thrown = e;
    }
    const end = await load.end().catch((e) => e);
    expect(end).toBeInstanceOf(KlaviyoAuthError);
    // The writer learns it no later than `end()`; whatever was written, nothing was stored.
    if (thrown !== undefined) expect(thrown).toBe(end);
    expect(api.store.events).toHaveLength(0);
  });
});

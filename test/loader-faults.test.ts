/**
 * No event lost, none doubled, under faults: 100,000 events (DWH_IMPORT_FAULT_EVENTS overrides the
 * count) loaded page by page (requests of 250 events, so that each fault has hundreds of chances) through the real SDK sender into the real local API over HTTP while it
 * answers 10% 5xx, cuts 5% of connections (half before, half after storing the events), holds some
 * requests or their answers past the client's timeout, and throws bursts of 429s. One page is loaded twice, as an
 * activity retried after its deadline would. The server must end with exactly the generated events,
 * each once, with their content.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpSender } from '../activities/klaviyo/http-sender.ts';
import { loadEvents, type LoadResult } from '../loading/loader.ts';
import { RateLimiter } from '../loading/rate-limiter.ts';
import type { KlaviyoEvent } from '../mapping/types.ts';
import { startLocalKlaviyo, type LocalKlaviyo } from '../local-api/server.ts';

const N = Number(process.env.DWH_IMPORT_FAULT_EVENTS ?? 100_000);
const PAGE = 5_000;
const PROFILES = 4_000;
const KEY = 'pk_faults_test_0123456789';
let api: LocalKlaviyo;

beforeAll(async () => {
  api = await startLocalKlaviyo({
    apiKeys: [KEY],
    // The windows are switched off here to keep the test fast; loader-limiter.test.ts runs real windows.
    limits: { bulk: null, single: null },
    faults: { error500: 0.05, error503: 0.05, drop: 0.025, dropAfterAccept: 0.025, slow: 0.02, slowMs: 1_200, lateAnswer: 0.02, lateAnswerMs: 1_200, throttleBurst: 0.02, burstLength: 3, burst429: 2, retryAfter: 1, seed: 20_240_501 },
  });
});
afterAll(() => api?.close());

function event(i: number): KlaviyoEvent {
  const p = (i * 7_919) % PROFILES;
  return {
    metric: i % 4 === 0 ? 'Refunded Order' : 'Placed Order',
    time: new Date(Date.UTC(2025, 0, 1) + i * 61_000).toISOString(),
    // Some profiles known by email only, some by external id only, most by both.
    profile: p % 10 === 0 ? { external_id: `C${p}` } : p % 10 === 1 ? { email: `c${p}@shop.org` } : { email: `c${p}@shop.org`, external_id: `C${p}` },
    unique_id: `order-${i}`,
    value: (i % 1000) / 4,
    value_currency: 'EUR',
    properties: { order_id: i, lines: [{ sku: `S${i % 97}`, qty: 1 + (i % 3) }], channel: i % 2 ? 'web' : 'app' },
  };
}

describe('loading under faults', () => {
  it(`ends with exactly the ${N.toLocaleString('en-US')} distinct events stored, none twice`, async () => {
    const sender = httpSender({ apiKey: KEY, baseUrl: api.url, timeoutMs: 1_000 });
    const limiter = new RateLimiter(null);
    const totals = { accepted: 0, requests: 0, throttled: 0, retries: 0, rejects: 0, duplicates: 0 };
    const add = (r: LoadResult) => {
      totals.accepted += r.accepted;
      totals.requests += r.requests;
      totals.throttled += r.throttled;
      totals.retries += r.retries;
      totals.rejects += r.rejects.length;
      totals.duplicates += r.duplicates;
    };
    const pages: KlaviyoEvent[][] = [];
    for (let from = 0; from < N; from += PAGE) pages.push(Array.from({ length: Math.min(PAGE, N - from) }, (_, k) => event(from + k)));
    // Two syncs' worth of pages at a time, as a worker runs several activities.
    let next = 0;
    await Promise.all(
      [0, 1].map(async () => {
        for (let p = next++; p < pages.length; p = next++) add(await loadEvents(pages[p], { sender, limiter, backfill: false, baseBackoffMs: 20, maxBackoffMs: 300, maxEvents: 250 }));
      }),
    );
    // An activity retried after its deadline sends a whole page again.
    const replay = await loadEvents(pages[3], { sender, limiter, backfill: false, baseBackoffMs: 20, maxBackoffMs: 300, maxEvents: 250 });
    expect(replay.accepted).toBe(pages[3].length);

    expect(totals.accepted).toBe(N);
    expect(totals.rejects).toBe(0);
    expect(totals.duplicates).toBe(0);
    // The faults really happened.
    const c = api.store.counters;
    expect(totals.retries).toBeGreaterThan(0);
    expect(totals.throttled).toBeGreaterThan(0);
    expect(c.dropped_before_accept).toBeGreaterThan(0);
    expect(c.dropped_after_accept).toBeGreaterThan(0);
    // Klaviyo's deduplication (first wins) absorbed every re-send of stored events: the replayed page
    // and the requests whose answer was lost or late.
    expect(c.duplicate_events).toBeGreaterThanOrEqual(pages[3].length + c.dropped_after_accept * 1);

    // Exactly the generated events, each once, with their content and profile.
    const stored = api.store.events;
    expect(stored).toHaveLength(N);
    const byId = new Map(stored.map((e) => [e.unique_id!, e]));
    expect(byId.size).toBe(N);
    for (let i = 0; i < N; i++) {
      const want = event(i);
      const got = byId.get(want.unique_id);
      expect(got, want.unique_id).toBeDefined();
      if (got!.metric !== want.metric || got!.time !== want.time || got!.value !== want.value || (got!.properties as { order_id: number }).order_id !== i) {
        expect(got).toMatchObject({ metric: want.metric, time: want.time, value: want.value, properties: want.properties });
      }
      const profile = api.store.profiles.get(got!.profile_id)!;
      if (want.profile.email !== undefined && profile.email !== want.profile.email) expect(profile.email).toBe(want.profile.email);
      if (want.profile.external_id !== undefined && profile.external_id !== want.profile.external_id) expect(profile.external_id).toBe(want.profile.external_id);
    }
    expect(api.store.profiles.size).toBe(Math.min(N, PROFILES));
  }, 300_000);
});

/**
 * The shared rate limiter against the real local API's fixed windows, in real time, with a small count:
 * windows shortened to 6 s (24 requests) with a 1 s burst window (10 requests) so the test takes seconds, the server's
 * window boundary placed mid-run (not where the client starts), two syncs loading at once through one
 * limiter. No request may be refused, and every window the run spans entirely must be used in full.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpSender } from '../activities/klaviyo/http-sender.ts';
import { loadEvents } from '../loading/loader.ts';
import { limiterFor, type RateLimits } from '../loading/rate-limiter.ts';
import type { KlaviyoEvent } from '../mapping/types.ts';
import { startLocalKlaviyo, type LocalKlaviyo } from '../local-api/server.ts';

const KEY = 'pk_limiter_test_0123456789';
// Klaviyo's proportions: the steady budget takes 40% of its window at the burst rate (150 at 10/s: 15 of 60 s).
const LIMITS: RateLimits = { burstPerSecond: 10, steadyPerMinute: 24, steadyWindowMs: 6_000 };
const PER_REQUEST = 5;
let api: LocalKlaviyo;
let t0: number;

beforeAll(async () => {
  t0 = Date.now();
  // The server's first window ends 2.5 s after the test starts.
  api = await startLocalKlaviyo({ apiKeys: [KEY], limits: { bulk: LIMITS, single: null }, windowOriginMs: t0 + 2_500 - 6_000 });
});
afterAll(() => api?.close());

const events = (sync: number, n: number): KlaviyoEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    metric: 'Placed Order',
    time: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString(),
    profile: { email: `s${sync}-c${i}@shop.org` },
    unique_id: `s${sync}-o${i}`,
    properties: { i },
  }));

describe('rate limiter against the local API (real windows, shortened)', () => {
  it('is one instance per account in the process', () => {
    const a = httpSender({ apiKey: KEY, baseUrl: api.url });
    const b = httpSender({ apiKey: KEY, baseUrl: `${api.url}/` });
    const other = httpSender({ apiKey: 'pk_other_account', baseUrl: api.url });
    expect(a.accountId).toBe(b.accountId);
    expect(a.accountId).not.toContain(KEY);
    expect(limiterFor(a.accountId, LIMITS)).toBe(limiterFor(b.accountId, LIMITS));
    expect(limiterFor(other.accountId, LIMITS)).not.toBe(limiterFor(a.accountId, LIMITS));
  });

  it('two syncs sharing the limiter fill every window and get no 429', async () => {
    const sender = httpSender({ apiKey: KEY, baseUrl: api.url });
    const limiter = limiterFor(sender.accountId, LIMITS);
    const perSync = 30 * PER_REQUEST; // 60 requests in all: 2.5 windows' worth
    const results = await Promise.all(
      [1, 2].map(async (sync) => {
        const all = events(sync, perSync);
        let accepted = 0;
        let throttled = 0;
        // Pages of 25 events (5 requests), one after another, as a sync's activities run.
        for (let p = 0; p < all.length; p += 25) {
          const r = await loadEvents(all.slice(p, p + 25), { sender, limiter, backfill: false, maxEvents: PER_REQUEST });
          accepted += r.accepted;
          throttled += r.throttled;
        }
        return { accepted, throttled };
      }),
    );
    expect(results).toEqual([
      { accepted: perSync, throttled: 0 },
      { accepted: perSync, throttled: 0 },
    ]);
    const windows = api.windowStats();
    expect(windows.map((w) => w.throttled + w.throttledBurst)).toEqual(windows.map(() => 0));
    expect(windows.reduce((s, w) => s + w.admitted, 0)).toBe(60);
    // The first window had 2.5 s left; the ones in between are full; the last takes the rest.
    expect(windows.length).toBeGreaterThanOrEqual(3);
    expect(windows.slice(1, -1).map((w) => w.admitted)).toEqual(windows.slice(1, -1).map(() => 24));
    expect(api.store.events).toHaveLength(2 * perSync);
    expect(limiter.stats()).toMatchObject({ mode: 'server-aligned', throttled: 0 });
  }, 120_000);
});

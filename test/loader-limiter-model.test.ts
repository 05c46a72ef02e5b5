/**
 * The rate limiter on a simulated clock against a model of Klaviyo's fixed windows (the only place a
 * model stands in for the server: it lets minutes of windows run in milliseconds and checks every
 * request's arrival). The same limiter runs against the real local API in loader-limiter.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { RateLimiter, retryAfterMs, type Clock, type LimiterAnswer } from '../loading/rate-limiter.ts';
import { LoadDeadlineError } from '../loading/errors.ts';

/** A manual clock: timers fire in order as time is advanced. */
class FakeClock implements Clock {
  t = 1_700_000_000_000;
  private timers: { at: number; resolve: () => void; reject: (e: unknown) => void; signal?: AbortSignal; onAbort?: () => void }[] = [];
  now = () => this.t;
  sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = { at: this.t + Math.max(0, ms), resolve, reject, signal, onAbort: undefined as undefined | (() => void) };
      timer.onAbort = () => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', timer.onAbort, { once: true });
      this.timers.push(timer);
    });
  /** Runs every timer due up to `target`, letting promise chains settle in between. */
  async advanceTo(target: number): Promise<void> {
    for (;;) {
      await flush();
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > target) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.signal?.removeEventListener('abort', next.onAbort!);
      next.resolve();
    }
    this.t = Math.max(this.t, target);
    await flush();
  }
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

/** Klaviyo's fixed windows as the local API implements them, anchored at `origin`. */
class WindowModel {
  counts = new Map<number, number>();
  bursts = new Map<number, number>();
  throttled = 0;
  constructor(
    readonly origin: number,
    readonly steady = 150,
    readonly burst = 10,
    readonly W = 60_000,
  ) {}
  /** A request arriving at `t`: the answer's status and headers. */
  take(t: number): { status: number; headers: Record<string, string> } {
    const si = Math.floor((t - this.origin) / this.W);
    const bi = Math.floor((t - this.origin) / 1000);
    const reset = Math.max(1, Math.ceil((this.origin + (si + 1) * this.W - t) / 1000));
    const c = this.counts.get(si) ?? 0;
    const b = this.bursts.get(bi) ?? 0;
    if (c >= this.steady || b >= this.burst) {
      this.throttled++;
      return { status: 429, headers: { 'retry-after': String(c >= this.steady ? reset : 1) } };
    }
    this.counts.set(si, c + 1);
    this.bursts.set(bi, b + 1);
    return { status: 202, headers: { 'ratelimit-limit': String(this.steady), 'ratelimit-remaining': String(this.steady - c - 1), 'ratelimit-reset': String(reset) } };
  }
}

/**
 * `workers` loops each sending `perWorker` requests through the limiter; a request reaches the server
 * `upMs` after its permit and the answer comes back `downMs` later.
 */
async function drive(opts: { limiter: RateLimiter; clock: FakeClock; server: WindowModel; workers: number; perWorker: number; upMs: (i: number) => number; downMs: number; horizonMs: number }) {
  const arrivals: number[] = [];
  let done = 0;
  let sent = 0;
  const loop = async () => {
    for (let k = 0; k < opts.perWorker; ) {
      const p = await opts.limiter.acquire();
      const arrive = opts.clock.now() + opts.upMs(sent++);
      await opts.clock.sleep(arrive - opts.clock.now());
      const a = opts.server.take(opts.clock.now());
      arrivals.push(opts.clock.now());
      await opts.clock.sleep(opts.downMs);
      const answer: LimiterAnswer = { ...a, receivedAt: opts.clock.now() };
      p.settle(answer);
      if (a.status !== 429) k++;
    }
    done++;
  };
  const all = Promise.all(Array.from({ length: opts.workers }, loop));
  const end = opts.clock.t + opts.horizonMs;
  while (done < opts.workers && opts.clock.t < end) await opts.clock.advanceTo(Math.min(end, opts.clock.t + 250));
  expect(done).toBe(opts.workers);
  await all;
  return arrivals;
}

describe('rate limiter on a simulated clock against fixed windows', () => {
  it('learns the server window boundary from the headers, fills every window, and gets no 429', async () => {
    for (const phase of [1_300, 17_000, 42_500, 59_200]) {
      const clock = new FakeClock();
      // The server's window ends `phase` ms after the client starts.
      const server = new WindowModel(clock.t + phase - 60_000);
      const limiter = new RateLimiter({ burstPerSecond: 10, steadyPerMinute: 150 }, { clock, random: () => 0.5 });
      await drive({ limiter, clock, server, workers: 4, perWorker: 150, upMs: (i) => 20 + ((i * 37) % 60), downMs: 40, horizonMs: 10 * 60_000 });
      expect(server.throttled, `phase ${phase}`).toBe(0);
      const windows = [...server.counts.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c);
      expect(windows.reduce((a, b) => a + b, 0)).toBe(600);
      // Every window but the first (partial) and the last (the work ran out) is used to the full 150.
      expect(windows.slice(1, -1).every((c) => c === 150), `phase ${phase}: ${windows}`).toBe(true);
      // The first window gets what 10/s allows in the time left (minus the guard band before its end).
      expect(windows[0], `phase ${phase}: ${windows}`).toBeGreaterThanOrEqual(Math.min(150, Math.floor(((phase - 2_500) / 1_200) * 10)));
      const st = limiter.stats();
      expect(st.mode).toBe('server-aligned');
      expect(st.boundaryUncertaintyMs!).toBeLessThan(1_200);
    }
  });

  it('stays within both windows when round trips vary widely (50 ms to 2 s, heavy tail)', async () => {
    for (let seed = 1; seed <= 12; seed++) {
      let x = seed;
      const rnd = () => (x = (x * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
      const phase = 3_000 + Math.floor(rnd() * 57_000);
      const clock = new FakeClock();
      const server = new WindowModel(clock.t + phase - 60_000);
      const limiter = new RateLimiter({ burstPerSecond: 10, steadyPerMinute: 150 }, { clock, random: rnd });
      await drive({ limiter, clock, server, workers: 4, perWorker: 75, upMs: () => 50 + Math.floor(rnd() ** 3 * 2_000), downMs: 100, horizonMs: 10 * 60_000 });
      const windows = [...server.counts.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c);
      expect(server.throttled, `seed ${seed}, phase ${phase}: ${windows}`).toBe(0);
      expect(windows.slice(1, -1).every((c) => c === 150), `seed ${seed}, phase ${phase}: ${windows}`).toBe(true);
    }
  });

  it('never lets more than the burst budget arrive in any server second', async () => {
    const clock = new FakeClock();
    const server = new WindowModel(clock.t - 500, 1000, 10);
    const limiter = new RateLimiter({ burstPerSecond: 10, steadyPerMinute: 1000 }, { clock });
    const arrivals = await drive({ limiter, clock, server, workers: 8, perWorker: 40, upMs: (i) => 10 + (i % 5) * 30, downMs: 10, horizonMs: 5 * 60_000 });
    expect(server.throttled).toBe(0);
    expect(arrivals).toHaveLength(320);
    expect(Math.max(...server.bursts.values())).toBeLessThanOrEqual(10);
  });

  it('subtracts what other clients of the account used from the window budget', async () => {
    const clock = new FakeClock();
    const server = new WindowModel(clock.t - 10_000);
    // Another process used 100 of this window's 150 before we start, and 100 of the next one at its start.
    for (let i = 0; i < 100; i++) server.counts.set(0, (server.counts.get(0) ?? 0) + 1);
    const limiter = new RateLimiter({ burstPerSecond: 10, steadyPerMinute: 150 }, { clock });
    const other = (async () => {
      await clock.sleep(50_000 + 50);
      server.counts.set(1, (server.counts.get(1) ?? 0) + 100);
    })();
    await drive({ limiter, clock, server, workers: 3, perWorker: 40, upMs: () => 30, downMs: 30, horizonMs: 5 * 60_000 });
    await other;
    expect(server.throttled).toBe(0);
    // 100 + our 50, then 100 + our 50, then our last 20.
    expect([server.counts.get(0), server.counts.get(1), server.counts.get(2)]).toEqual([150, 150, 20]);
  });

  it('after a 429 holds every request until Retry-After plus a jitter has passed', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(null, { clock, random: () => 0.4, retryJitterMs: 500 });
    const first = await limiter.acquire();
    first.settle({ status: 429, headers: { 'retry-after': '3' }, receivedAt: clock.now() });
    const t429 = clock.now();
    const granted: number[] = [];
    const waiting = Promise.all([limiter.acquire(), limiter.acquire()]).then((ps) => ps.forEach((p) => granted.push(p.grantedAt)));
    await clock.advanceTo(t429 + 3_100);
    expect(granted).toEqual([]);
    await clock.advanceTo(t429 + 3_300);
    await waiting;
    expect(granted).toEqual([t429 + 3_200, t429 + 3_200]);
    expect(limiter.stats().throttled).toBe(1);
  });

  it('refuses with LoadDeadlineError when the budget only comes back after the deadline', async () => {
    const clock = new FakeClock();
    const server = new WindowModel(clock.t - 1_000, 3);
    const limiter = new RateLimiter({ burstPerSecond: 10, steadyPerMinute: 3 }, { clock });
    await drive({ limiter, clock, server, workers: 1, perWorker: 3, upMs: () => 10, downMs: 10, horizonMs: 10_000 });
    await expect(limiter.acquire({ deadline: clock.now() + 30_000 })).rejects.toBeInstanceOf(LoadDeadlineError);
    // Without a deadline the same request waits for the next window (59 s away), then goes.
    const later = limiter.acquire();
    await clock.advanceTo(clock.t + 58_000);
    let got: number | undefined;
    void later.then((p) => (got = p.grantedAt));
    await flush();
    expect(got).toBeUndefined();
    await clock.advanceTo(clock.t + 3_000);
    expect(got).toBeGreaterThanOrEqual(server.origin + 60_000);
  });

  it('sends one probe at a time until it knows the window, and uses client-side windows when a server sends no headers', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ burstPerSecond: 10, steadyPerMinute: 5 }, { clock });
    const a = await limiter.acquire();
    let second = false;
    const b = limiter.acquire().then((p) => ((second = true), p));
    await clock.advanceTo(clock.t + 2_000);
    expect(second).toBe(false);
    a.settle({ status: 202, headers: {}, receivedAt: clock.now() });
    await clock.advanceTo(clock.t + 1);
    expect(second).toBe(true);
    (await b).settle({ status: 202, headers: {}, receivedAt: clock.now() });
    const c = await limiter.acquire();
    c.settle({ status: 202, headers: {}, receivedAt: clock.now() });
    expect(limiter.stats().mode).toBe('client-windows');
    // 5 per client window: two more now, the sixth waits for the window to end.
    const start = clock.now();
    const grants: number[] = [];
    const rest = Promise.all(Array.from({ length: 3 }, () => limiter.acquire().then((p) => grants.push(p.grantedAt))));
    await clock.advanceTo(start + 70_000);
    await rest;
    expect(grants.filter((g) => g - start < 1_000)).toHaveLength(2);
    expect(grants.filter((g) => g - start > 50_000)).toHaveLength(1);
  });

  it('reads Retry-After as seconds or as an HTTP date, 1 s when absent or unreadable', () => {
    const now = Date.parse('2026-03-01T10:00:00Z');
    expect(retryAfterMs('7', now)).toBe(7_000);
    expect(retryAfterMs('Sun, 01 Mar 2026 10:00:05 GMT', now)).toBe(5_000);
    expect(retryAfterMs(undefined, now)).toBe(1_000);
    expect(retryAfterMs('soon', now)).toBe(1_000);
  });

  it('reads RateLimit-* headers written as lists with window parameters', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ burstPerSecond: 10, steadyPerMinute: 150 }, { clock });
    const p = await limiter.acquire();
    p.settle({ status: 202, headers: { 'ratelimit-limit': '150, 150;w=60', 'ratelimit-remaining': '120;w=60', 'ratelimit-reset': '30' }, receivedAt: clock.now() + 20 });
    expect(limiter.stats().mode).toBe('server-aligned');
    // 29 others counted before us: 120 remain, the next 120 requests go in this window and then it waits.
    const granted: number[] = [];
    const all = Promise.all(Array.from({ length: 121 }, () => limiter.acquire().then((q) => granted.push(q.grantedAt))));
    await clock.advanceTo(clock.t + 29_000);
    expect(granted).toHaveLength(120);
    await clock.advanceTo(clock.t + 5_000);
    await all;
    expect(granted).toHaveLength(121);
  });

  it('re-learns the window boundary, one probe at a time, when a long pause has made its estimate too uncertain', async () => {
    const clock = new FakeClock();
    const server = new WindowModel(clock.t - 30_000);
    const limiter = new RateLimiter({ burstPerSecond: 10, steadyPerMinute: 150 }, { clock, drift: 1e-3 });
    await drive({ limiter, clock, server, workers: 2, perWorker: 10, upMs: () => 20, downMs: 20, horizonMs: 60_000 });
    expect(limiter.stats().mode).toBe('server-aligned');
    await clock.advanceTo(clock.t + 8 * 3_600_000); // 8 h idle: +-29 s of assumed drift
    const first = await limiter.acquire();
    expect(limiter.stats().mode).toBe('learning');
    let second = false;
    const next = limiter.acquire().then((p) => ((second = true), p));
    await clock.advanceTo(clock.t + 5_000);
    expect(second).toBe(false);
    first.settle({ ...server.take(clock.now()), receivedAt: clock.now() + 10 });
    await clock.advanceTo(clock.t + 100);
    expect(second).toBe(true);
    expect(limiter.stats()).toMatchObject({ mode: 'server-aligned', throttled: 0 });
    (await next).settle(null);
  });
});

/**
 * A rate limiter for one Klaviyo account, shared by every sync loading through this process
 * (klaviyo-api.md "Errors and rate limiting": all private-key traffic of an account shares one quota;
 * Bulk Create Events allows 10 requests per 1 s burst window and 150 per 60 s steady window, both
 * fixed windows).
 *
 * Aim: use the whole budget of every server window without a 429. Three parts:
 *
 * - Steady window, aligned with the server's. Klaviyo's minute starts at the server's own boundary, not
 *   at our first request. Every non-429 answer carries `RateLimit-Remaining` and `RateLimit-Reset`
 *   (seconds until the window resets, an integer). One answer places the boundary within about two
 *   seconds; the intersection of many answers (sent at different sub-second phases) narrows it to
 *   about the network latency. Requests are then counted per server window and none is sent inside the
 *   uncertain band around a boundary, so a request is never counted in a window other than the one it
 *   was budgeted in. A fixed window's budget does not depend on when in the window it is spent, so the
 *   few hundred milliseconds of guard band cost no throughput.
 * - Other traffic on the same account (other processes, other tools) is learnt from `RateLimit-Remaining`:
 *   what the server counted beyond our own requests is subtracted from the window's budget.
 * - Burst window: its phase is not reported, so the limiter keeps at most `burstPerSecond` requests in
 *   any sliding (1 s + margin) interval, which satisfies every fixed 1 s window whatever its phase.
 *
 * Until the first answer with headers arrives the limiter sends one request at a time (a probe): the
 * budget left by others in the current window is unknown. A server that never sends the headers gets
 * client-side windows instead. After a 429 nobody sends before `Retry-After` plus a jitter.
 */
import { LoadDeadlineError } from './errors.ts';

/**
 * Request budgets per fixed window. Klaviyo Bulk Create Events: 10 per second (burst), 150 per minute
 * (steady) (klaviyo-api.md "Endpoints"). Window lengths are configurable for tests only.
 */
export interface RateLimits {
  burstPerSecond: number;
  steadyPerMinute: number;
  /** Length of the burst window in ms. Default 1,000. */
  burstWindowMs?: number;
  /** Length of the steady window in ms. Default 60,000. */
  steadyWindowMs?: number;
}

/** Klaviyo's limits for `POST /api/event-bulk-create-jobs`. */
export const BULK_EVENTS_LIMITS: RateLimits = { burstPerSecond: 10, steadyPerMinute: 150 };

/** A clock and sleep, injectable for tests. Times in epoch milliseconds. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`; rejects with `signal.reason` when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      const onAbort = () => {
        clearTimeout(t);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** What the limiter needs to know about an answer. Header names lower-case. */
export interface LimiterAnswer {
  status: number;
  headers: Record<string, string>;
  /** Epoch ms when the answer arrived. */
  receivedAt: number;
}

/** The right to send one request. Settle it exactly once with the answer, or `null` when none came. */
export interface Permit {
  /** Epoch ms when the permit was granted (the request is sent right after). */
  readonly grantedAt: number;
  settle(answer: LimiterAnswer | null): void;
}

/** Tuning; defaults fit Klaviyo. All times in ms. */
export interface LimiterOptions {
  clock?: Clock;
  /** Least margin added to the 1 s burst interval on the client side; raised to the observed spread of round trips (up to 1 s), which bounds how much arrivals can bunch. Default 200. */
  burstMarginMs?: number;
  /** Wait after the latest moment the server's steady window can have rolled over. Default 150. */
  postBoundaryMs?: number;
  /** Kept free before the earliest moment the steady window can roll over (raised to 1.5x the longest recent round trip). Default 400. */
  preBoundaryMs?: number;
  /** Upper bound of the random jitter added to Retry-After. Default 500. */
  retryJitterMs?: number;
  /** Assumed worst clock drift between us and the server, in ms per ms elapsed. Default 1e-4 (100 ppm). */
  drift?: number;
  /** Random source in [0, 1) (tests make it deterministic). */
  random?: () => number;
}

/** Counters and state, for benchmarks and logs. */
export interface LimiterStats {
  granted: number;
  throttled: number;
  /** How the steady window is tracked. */
  mode: 'off' | 'learning' | 'server-aligned' | 'client-windows';
  /** Width of the interval the server's window boundary is known to lie in, ms (null until known). */
  boundaryUncertaintyMs: number | null;
  /** Times a server answer contradicted the boundary estimate (it was then re-learnt). */
  boundaryResets: number;
  /** Requests currently waiting for a permit. */
  waiting: number;
}

interface WindowCount {
  /** Our requests granted in this window. */
  sent: number;
  /** Requests of others the server counted in this window (lower estimate). */
  foreign: number;
  /** Sequence numbers (within the window) of our requests already answered with headers. */
  answered: number[];
  /** Sequence numbers of our requests refused by a 429 while the window had budget (the server did not count them). */
  refunded: number[];
  /** Epoch ms of the first answer the server counted in this window: the window had started by then. */
  confirmedAt?: number;
}

interface Waiter {
  resolve: (p: Permit) => void;
  reject: (e: unknown) => void;
  deadline?: number;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface PermitState {
  grantedAt: number;
  /** Window index and sequence within it (`epoch` tells which boundary estimate they refer to). */
  window: number;
  seq: number;
  epoch: number;
  probe: boolean;
  settled: boolean;
}

/** Parses `Retry-After` (integer seconds or an HTTP date) into ms from `now`; default 1 s. */
export function retryAfterMs(value: string | undefined, now: number): number {
  if (value === undefined || value.trim() === '') return 1000;
  const s = Number(value);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const d = Date.parse(value);
  return Number.isFinite(d) ? Math.max(0, d - now) : 1000;
}

/** Reads the leading integer of a `RateLimit-*` header (`150`, `150;w=60`, `150, 150;w=60`). */
function headerInt(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(\d+)/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/**
 * Fixed-window limiter with server feedback. One instance per account per process (`limiterFor`).
 * `limits === null` paces nothing but still honours `Retry-After`.
 */
export class RateLimiter {
  private readonly clock: Clock;
  private readonly burstWindow: number;
  private readonly steadyWindow: number;
  private readonly burstMargin: number;
  private readonly postBoundary: number;
  private readonly preBoundary: number;
  private readonly retryJitter: number;
  private readonly drift: number;
  private readonly random: () => number;

  private readonly waiters: Waiter[] = [];
  private timer: { at: number; ctrl: AbortController } | null = null;
  private readonly burstLog: number[] = [];
  private blockedUntil = 0;

  private mode: LimiterStats['mode'];
  private answersWithoutHeaders = 0;
  private probeInFlight = false;
  /** Interval [lo, hi] holding one boundary instant of the server's steady window; boundaries repeat every steadyWindow. */
  private boundary: { lo: number; hi: number; at: number } | null = null;
  private epoch = 0;
  private ownStart: number | null = null;
  private windows = new Map<number, WindowCount>();
  /** Round trips of the last answers, ms. */
  private rtts: number[] = [];
  private inFlight = 0;
  private counters = { granted: 0, throttled: 0, boundaryResets: 0 };

  constructor(
    readonly limits: RateLimits | null,
    opts: LimiterOptions = {},
  ) {
    this.clock = opts.clock ?? realClock;
    this.burstWindow = limits?.burstWindowMs ?? 1000;
    this.steadyWindow = limits?.steadyWindowMs ?? 60_000;
    this.burstMargin = opts.burstMarginMs ?? 200;
    this.postBoundary = opts.postBoundaryMs ?? 150;
    this.preBoundary = opts.preBoundaryMs ?? 400;
    this.retryJitter = opts.retryJitterMs ?? 500;
    this.drift = opts.drift ?? 1e-4;
    this.random = opts.random ?? Math.random;
    this.mode = limits ? 'learning' : 'off';
  }

  /**
   * Waits for the right to send one request (FIFO across all callers).
   * @throws LoadDeadlineError when the permit could only be granted after `deadline` (epoch ms);
   *   `signal.reason` when aborted.
   */
  acquire(opts: { signal?: AbortSignal; deadline?: number } = {}): Promise<Permit> {
    return new Promise<Permit>((resolve, reject) => {
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      const w: Waiter = { resolve, reject, deadline: opts.deadline, signal: opts.signal };
      if (opts.signal) {
        w.onAbort = () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(opts.signal!.reason);
          this.pump();
        };
        opts.signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiters.push(w);
      this.pump();
    });
  }

  /** Current counters and state. */
  stats(): LimiterStats {
    const b = this.boundary ? this.effectiveBoundary(this.clock.now()) : null;
    return {
      ...this.counters,
      mode: this.mode,
      boundaryUncertaintyMs: b ? Math.round(b.hi - b.lo) : null,
      waiting: this.waiters.length,
    };
  }

  /** Holds every request until `untilMs` (epoch ms), e.g. after a 429 seen outside the limiter. */
  blockUntil(untilMs: number): void {
    if (untilMs > this.blockedUntil) this.blockedUntil = untilMs;
    this.pump();
  }

  // ---- granting -------------------------------------------------------------------------------

  private pump(): void {
    const now = this.clock.now();
    while (this.waiters.length > 0) {
      const w = this.waiters[0];
      const next = this.earliest(now);
      if (next === 'answer') return; // a probe is out: settle() pumps again
      if (next.at <= now) {
        this.waiters.shift();
        if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
        w.resolve(this.grant(now, next.window));
        continue;
      }
      if (w.deadline !== undefined && next.at > w.deadline) {
        this.waiters.shift();
        if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
        w.reject(
          new LoadDeadlineError(
            `the Klaviyo rate limit allows the next request in ${Math.round((next.at - now) / 1000)} s, after the activity's deadline`,
          ),
        );
        continue;
      }
      this.schedule(next.at);
      return;
    }
  }

  private schedule(at: number): void {
    if (this.timer && this.timer.at <= at) return;
    this.timer?.ctrl.abort();
    const ctrl = new AbortController();
    this.timer = { at, ctrl };
    this.clock.sleep(Math.max(0, at - this.clock.now()), ctrl.signal).then(
      () => {
        if (this.timer?.ctrl === ctrl) {
          this.timer = null;
          this.pump();
        }
      },
      () => undefined,
    );
  }

  /** Earliest time the head of the queue may send, and the steady window it will count in. */
  private earliest(now: number): { at: number; window: number } | 'answer' {
    let at = Math.max(now, this.blockedUntil);
    if (!this.limits) return { at, window: 0 };
    if (this.mode === 'server-aligned' && !this.planable(now)) {
      // The boundary estimate has grown too uncertain to plan around (a long pause, a clock jump):
      // learn it again from the next answer, one request at a time.
      this.mode = 'learning';
      this.boundary = null;
      this.windows = new Map();
      this.ownStart = null;
    }
    if (this.mode === 'learning' && this.probeInFlight) return 'answer';
    const burst = this.limits.burstPerSecond;
    const span = this.burstWindow + this.jitterMargin();
    // Keep the log to the last `burst` grants.
    if (this.burstLog.length >= burst) {
      const edge = this.burstLog[this.burstLog.length - burst] + span;
      if (edge > at) at = edge;
    }
    return this.steadySlot(at);
  }

  /** Time kept free before a boundary, ms. */
  private preGuard(): number {
    return Math.min(this.steadyWindow / 4, Math.max(this.preBoundary, 1.5 * Math.max(0, ...this.rtts)));
  }

  /** Whether the boundary is known well enough to leave a safe part in every window. */
  private planable(now: number): boolean {
    const b = this.effectiveBoundary(now);
    return b.hi - b.lo + this.preGuard() + this.postBoundary < this.steadyWindow / 2;
  }

  private steadySlot(from: number): { at: number; window: number } {
    const limit = this.limits!.steadyPerMinute;
    const W = this.steadyWindow;
    if (this.mode === 'server-aligned' && this.boundary) {
      const b = this.effectiveBoundary(from);
      const pre = this.preGuard();
      // Window k spans [hi + k*W, hi + (k+1)*W) on the raw estimate; it is safe to send in
      // [latest possible start + post, earliest possible end - pre).
      let idx = Math.floor((from - this.boundary.hi) / W);
      for (let guard = 0; guard < 1000; guard++, idx++) {
        const confirmed = this.windows.get(idx)?.confirmedAt;
        const start = confirmed !== undefined ? Math.min(confirmed, b.hi + idx * W + this.postBoundary) : b.hi + idx * W + this.postBoundary;
        const end = b.lo + (idx + 1) * W - pre;
        const t = Math.max(from, start);
        if (t < end && this.used(idx) < limit) return { at: t, window: idx };
      }
    }
    // Client-side windows (a server without RateLimit headers, or while learning).
    const start = this.ownStart ?? from;
    let idx = Math.floor((from - start) / W);
    while (this.used(idx) >= limit) idx++;
    return { at: Math.max(from, start + idx * W), window: idx };
  }

  private used(idx: number): number {
    const w = this.windows.get(idx);
    return w ? w.sent - w.refunded.length + w.foreign : 0;
  }

  private windowCount(idx: number): WindowCount {
    let w = this.windows.get(idx);
    if (!w) {
      w = { sent: 0, foreign: 0, answered: [], refunded: [] };
      this.windows.set(idx, w);
      // Forget windows long past.
      for (const k of this.windows.keys()) if (k < idx - 2) this.windows.delete(k);
    }
    return w;
  }

  private grant(now: number, window: number): Permit {
    this.counters.granted++;
    this.inFlight++;
    if (!this.limits) return this.makePermit({ grantedAt: now, window: 0, seq: 0, epoch: 0, probe: false, settled: false });
    this.burstLog.push(now);
    if (this.burstLog.length > this.limits.burstPerSecond) this.burstLog.splice(0, this.burstLog.length - this.limits.burstPerSecond);
    if (this.mode !== 'server-aligned' && this.ownStart === null) this.ownStart = now;
    const probe = this.mode === 'learning';
    if (probe) this.probeInFlight = true;
    const w = this.windowCount(window);
    w.sent++;
    return this.makePermit({ grantedAt: now, window, seq: w.sent, epoch: this.epoch, probe, settled: false });
  }

  private makePermit(s: PermitState): Permit {
    return {
      grantedAt: s.grantedAt,
      settle: (answer) => {
        if (s.settled) return;
        s.settled = true;
        this.inFlight--;
        this.onAnswer(s, answer);
        this.pump();
      },
    };
  }

  // ---- learning from answers --------------------------------------------------------------------

  private onAnswer(p: PermitState, a: LimiterAnswer | null): void {
    if (p.probe) this.probeInFlight = false;
    if (!a) return;
    if (a.status === 429) {
      this.counters.throttled++;
      const wait = retryAfterMs(a.headers['retry-after'], a.receivedAt);
      const until = a.receivedAt + wait + this.random() * this.retryJitter;
      if (until > this.blockedUntil) this.blockedUntil = until;
      // A 429 while the window still had budget is the burst window's (or an injected one): the
      // server did not count it against the steady window, so its slot is given back.
      const w = this.limits && p.epoch === this.epoch ? this.windows.get(p.window) : undefined;
      if (w && wait <= this.burstWindow && w.sent - w.refunded.length + w.foreign <= this.limits!.steadyPerMinute) w.refunded.push(p.seq);
      return;
    }
    if (!this.limits) return;
    const remaining = headerInt(a.headers['ratelimit-remaining']);
    const reset = headerInt(a.headers['ratelimit-reset']);
    if (remaining === undefined || reset === undefined) {
      if (this.mode === 'learning' && ++this.answersWithoutHeaders >= 3) this.mode = 'client-windows';
      return;
    }
    this.rtts.push(a.receivedAt - p.grantedAt);
    if (this.rtts.length > 20) this.rtts.shift();
    const limit = headerInt(a.headers['ratelimit-limit']) ?? this.limits.steadyPerMinute;
    const counted = Math.max(0, limit - remaining);
    // The server answered at some instant in [grantedAt, receivedAt] with `reset` whole seconds left
    // (rounded up, or down on some servers): its boundary lies in this interval.
    const obs = { lo: p.grantedAt + (reset - 1) * 1000, hi: a.receivedAt + (reset + 1) * 1000 };
    const W = this.steadyWindow;
    let reset_ = false;
    if (!this.boundary) {
      this.boundary = { ...obs, at: a.receivedAt };
      reset_ = true;
    } else {
      const cur = this.effectiveBoundary(a.receivedAt);
      const n = Math.round((obs.lo + obs.hi - cur.lo - cur.hi) / 2 / W);
      const lo = Math.max(cur.lo, obs.lo - n * W);
      const hi = Math.min(cur.hi, obs.hi - n * W);
      if (lo <= hi) this.boundary = { lo, hi, at: a.receivedAt };
      else {
        this.boundary = { ...obs, at: a.receivedAt };
        this.counters.boundaryResets++;
        reset_ = true;
      }
    }
    const b = this.boundary;
    // Index of the window the server counted this request in: the one ending at the observed boundary.
    const obsMid = (obs.lo + obs.hi) / 2;
    const idx = Math.round((obsMid - b.hi) / W) - 1;
    if (reset_ || this.mode !== 'server-aligned') {
      // (Re)start window accounting on this estimate: this request and what the server counted.
      const wasLearning = this.mode !== 'server-aligned';
      this.mode = 'server-aligned';
      this.epoch++;
      const carried = wasLearning ? 1 : Math.max(1, this.inFlight + 1);
      this.windows = new Map([[idx, { sent: carried, foreign: Math.max(0, counted - carried), answered: [], refunded: [], confirmedAt: a.receivedAt }]]);
      return;
    }
    const w = this.windowCount(idx);
    if (w.confirmedAt === undefined || a.receivedAt < w.confirmedAt) w.confirmedAt = a.receivedAt;
    let foreign: number;
    if (p.epoch === this.epoch && p.window === idx) {
      const answeredAfter = w.answered.filter((s) => s > p.seq).length;
      const refundedBefore = w.refunded.filter((s) => s < p.seq).length;
      foreign = counted - (p.seq - refundedBefore) - answeredAfter;
      w.answered.push(p.seq);
    } else {
      foreign = counted - w.sent;
    }
    if (foreign > w.foreign) w.foreign = foreign;
  }

  /** Burst margin: the spread of recent round trips (how far arrivals can bunch), at least the configured one, at most 1 s. */
  private jitterMargin(): number {
    if (this.rtts.length < 2) return this.burstMargin;
    return Math.min(1000, Math.max(this.burstMargin, Math.max(...this.rtts) - Math.min(...this.rtts)));
  }

  /** The boundary interval widened by the drift since it was last observed. */
  private effectiveBoundary(now: number): { lo: number; hi: number } {
    const b = this.boundary!;
    const d = Math.max(0, now - b.at) * this.drift;
    return { lo: b.lo - d, hi: b.hi + d };
  }
}

const limiters = new Map<string, RateLimiter>();

/**
 * The process-wide limiter of an account: every caller with the same `accountId` (and limits) gets the
 * same instance, so every sync running in this worker shares one budget.
 */
export function limiterFor(accountId: string, limits: RateLimits | null, opts?: LimiterOptions): RateLimiter {
  const key = `${accountId}\u0000${JSON.stringify(limits)}`;
  let l = limiters.get(key);
  if (!l) {
    l = new RateLimiter(limits, opts);
    limiters.set(key, l);
  }
  return l;
}

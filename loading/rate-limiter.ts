/**
 * A rate limiter for one Klaviyo account, shared by every sync loading through this process
 * (klaviyo-api.md: "All private-key traffic of an account shares one quota").
 *
 * Klaviyo counts requests in fixed windows: 1 s (burst) and 60 s (steady). The limiter admits a request
 * only when both windows have room, learns from `RateLimit-Remaining` / `RateLimit-Reset` answers, and
 * after a 429 holds every request until the `Retry-After` time has passed.
 */

/** Window sizes and budgets. Klaviyo Bulk Create Events: 10 per second, 150 per minute. */
export interface RateLimits {
  burstPerSecond: number;
  steadyPerMinute: number;
}

export const BULK_EVENTS_LIMITS: RateLimits = { burstPerSecond: 10, steadyPerMinute: 150 };

/** A clock and sleep, injectable for tests. Times in epoch milliseconds. */
export interface Clock {
  now(): number;
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
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** Fixed-window limiter with server feedback. One instance per account per process. */
export class RateLimiter {
  private secondStart = 0;
  private secondCount = 0;
  private minuteStart = 0;
  private minuteCount = 0;
  private blockedUntil = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly limits: RateLimits | null,
    private readonly clock: Clock = realClock,
  ) {}

  /** Waits until one request may be sent, then counts it. `null` limits admit everything at once. */
  acquire(signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(() => this.waitForSlot(signal));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async waitForSlot(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      if (now < this.blockedUntil) {
        await this.clock.sleep(this.blockedUntil - now, signal);
        continue;
      }
      if (!this.limits) return;
      if (now - this.secondStart >= 1000) {
        this.secondStart = now;
        this.secondCount = 0;
      }
      if (now - this.minuteStart >= 60_000) {
        this.minuteStart = now;
        this.minuteCount = 0;
      }
      if (this.secondCount < this.limits.burstPerSecond && this.minuteCount < this.limits.steadyPerMinute) {
        this.secondCount++;
        this.minuteCount++;
        return;
      }
      const wait = this.minuteCount >= this.limits.steadyPerMinute ? this.minuteStart + 60_000 - now : this.secondStart + 1000 - now;
      await this.clock.sleep(Math.max(1, wait), signal);
    }
  }

  /** After a 429: nobody sends before `retryAfterSeconds` (plus `jitterMs`) from now. */
  onThrottled(retryAfterSeconds: number, jitterMs: number): void {
    this.blockedUntil = Math.max(this.blockedUntil, this.clock.now() + retryAfterSeconds * 1000 + jitterMs);
  }

  /**
   * Server feedback from `RateLimit-Remaining` and `RateLimit-Reset` (seconds) of the steady window:
   * when the server says fewer requests remain than we think, trust the server.
   */
  onHeaders(remaining: number | undefined, resetSeconds: number | undefined): void {
    if (!this.limits || remaining === undefined || resetSeconds === undefined) return;
    const now = this.clock.now();
    const usedByServer = this.limits.steadyPerMinute - remaining;
    if (usedByServer > this.minuteCount) {
      this.minuteCount = usedByServer;
      this.minuteStart = now + resetSeconds * 1000 - 60_000;
    }
  }
}

const limiters = new Map<string, RateLimiter>();

/** The process-wide limiter of an account (created on first use with `limits`). */
export function limiterFor(accountId: string, limits: RateLimits | null): RateLimiter {
  let l = limiters.get(accountId);
  if (!l) {
    l = new RateLimiter(limits);
    limiters.set(accountId, l);
  }
  return l;
}

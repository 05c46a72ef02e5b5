/**
 * The loader: sends a page's events to Klaviyo's Bulk Create Events endpoint and accounts for every
 * event: accepted (a 202 covered it), a duplicate inside the page (not sent: Klaviyo would drop it), or a
 * reject with the API's reason. It never loses an event silently: any other outcome is an error and the
 * page is not committed.
 *
 * Two forms: `loadEvents(events)` for a list in hand, and `openLoad()`, a stream that a page's events
 * are written to chunk by chunk (`write`, which waits while enough requests are queued: backpressure)
 * and closed with `end()`. The stream keeps only a few requests' worth of events: it packs full requests
 * as soon as enough events are there, sends them with `concurrency` requests in flight, and drops each
 * request's events once Klaviyo answered for them. Deduplication of (profile, metric, unique_id) covers
 * everything written to one stream.
 *
 * Answers and what the loader does (klaviyo-api.md "Errors and rate limiting"):
 * - 2xx: the request's events are accepted.
 * - 400/422: items named by `source.pointer` become rejects with the API's detail and the rest is sent
 *   again; without a usable pointer the request is split in halves until the bad items are isolated.
 *   A 400 about the request itself (a header, the revision, the envelope) throws `KlaviyoRequestError`.
 * - 413: the request is split (never re-sent as is); a single event too large becomes a reject.
 * - 401/403: `KlaviyoAuthError` (not retryable; the message never holds the key).
 * - 429: waits `Retry-After` plus jitter (the shared limiter holds every request behind), then re-sends.
 * - 408, 5xx, no answer (timeout, reset, dropped connection): re-sent with exponential backoff and jitter.
 *   Re-sending a request the server may already have stored is safe only because Klaviyo keeps the first
 *   event per (profile, metric, unique_id) and drops repeats.
 * - other statuses (404, 405, 415, ...): `KlaviyoRequestError` (a wrong base URL or a client bug).
 * All waiting is bounded by `deadline` (`LoadDeadlineError`, retryable: the page is loaded again later).
 *
 * The sender is injected (`BulkSender`), so this module is pure apart from time.
 */
import type { KlaviyoEvent } from '../mapping/types.ts';
import { EventEncoder, packBatches, BULK_LIMITS, type BulkBatch, type EncodedEvent } from './bulk.ts';
import { KlaviyoAuthError, KlaviyoRequestError, LoadDeadlineError } from './errors.ts';
import { realClock, retryAfterMs, type Clock, type RateLimiter } from './rate-limiter.ts';

export { KlaviyoAuthError, KlaviyoRequestError, LoadDeadlineError } from './errors.ts';

/** One HTTP answer; `status` 0 means no answer (`networkError` says why). Header names lower-case. */
export interface SendOutcome {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON body, or the text when it is not JSON, or undefined when empty. */
  body: unknown;
  networkError?: string;
}

/** Sends one bulk request, exactly once (no retry of its own). */
export interface BulkSender {
  /** Identifies the Klaviyo account (a hash, never the key) for the shared rate limiter. */
  readonly accountId: string;
  /** Posts `batch.body()`. Never throws for an HTTP or network failure: it reports it in the outcome. */
  send(batch: BulkBatch<unknown>, opts?: { signal?: AbortSignal }): Promise<SendOutcome>;
}

/**
 * An event Klaviyo refused (or that cannot fit any request), with the reason. `event` is the event
 * (`loadEvents`) or the tag it was written with (`openLoad`).
 */
export interface ApiReject<T = KlaviyoEvent> {
  event: T;
  reason: 'api_rejected' | 'payload_too_large';
  /** The API's detail, prefixed with the field it names when the pointer names one (e.g. `profile.email: ...`). */
  detail: string;
}

/** What happened to a page's events: `accepted + duplicates + rejects.length === events.length`. */
export interface LoadResult<T = KlaviyoEvent> {
  /** Events covered by a 2xx answer. */
  accepted: number;
  /** Events not sent because an earlier event of the page had the same profile, metric and unique_id. */
  duplicates: number;
  rejects: ApiReject<T>[];
  /** HTTP requests made, including retries and re-sends. */
  requests: number;
  /** 429 answers received. */
  throttled: number;
  /** Re-sends after a 408, 5xx or a request without answer. */
  retries: number;
  /** Requests split or re-packed after a 400 or 413. */
  splits: number;
  /** Body bytes of the requests that were accepted. */
  bytesAccepted: number;
}

/** Progress reported to `onProgress` (e.g. as an activity heartbeat). */
export interface LoadProgress {
  accepted: number;
  rejected: number;
  requests: number;
  throttled: number;
  retries: number;
  /** Events not yet accounted for. */
  pending: number;
}

export interface LoadOptions {
  sender: BulkSender;
  /** The account's shared limiter (`limiterFor`). */
  limiter: RateLimiter;
  /** Send Klaviyo's `backfill: true` (records the events without triggering flows). */
  backfill: boolean;
  /** Requests of this call in flight at once (the limiter paces them). Default 4. */
  concurrency?: number;
  /**
   * `openLoad`: full requests waiting to be sent before `write` waits for room. Default `concurrency`,
   * so at most about 2 x concurrency requests' worth of events (plus one partly filled request) are held.
   */
  maxQueued?: number;
  /** Epoch ms: never wait past it (throws `LoadDeadlineError`). */
  deadline?: number;
  /** Called after each answer and every `heartbeatMs` while waiting. */
  onProgress?: (p: LoadProgress) => void;
  /** Period of `onProgress` calls while nothing else happens, ms. Default 5,000. */
  heartbeatMs?: number;
  signal?: AbortSignal;
  clock?: Clock;
  /** First backoff delay, ms; doubles per retry of a request up to `maxBackoffMs`, times a jitter in [0.5, 1.5). Default 500. */
  baseBackoffMs?: number;
  /** Default 30,000. */
  maxBackoffMs?: number;
  /** Per-request limits (tests lower them). Default Klaviyo's 1,000 events and 5 MB. */
  maxEvents?: number;
  maxBytes?: number;
  random?: () => number;
}

interface ErrorItem {
  detail?: string;
  title?: string;
  code?: string;
  source?: { pointer?: string; parameter?: string; header?: string };
}

const ITEM_POINTER = /^\/data\/attributes\/events-bulk-create\/data\/(\d+)(?:\/(.*))?$/;
const EVENT_SUB = /^attributes\/events\/data\/(\d+)(?:\/(.*))?$/;
const PROFILE_SUB = /^attributes\/profile(?:\/(.*))?$/;
const LIST_POINTER = /^\/data\/attributes\/events-bulk-create\/data\/?$/;
/**
 * Events refused alone without a pointer, with nothing of the page accepted, after which the loader takes
 * the refusal for a problem of the request or the account rather than of the events (the same threshold
 * as the sync activity's "whole page refused" rule): it stops instead of bisecting the rest.
 */
const SUSPECT_AFTER = 10;

/** `attributes/time` -> `time`; `data/attributes/email` -> `email`. */
function fieldOf(rest: string | undefined): string {
  if (!rest) return '';
  return rest
    .split('/')
    .filter((p) => p !== 'attributes' && p !== 'data')
    .join('.');
}

function errorsOf(body: unknown): ErrorItem[] {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  return Array.isArray(errors) ? (errors as ErrorItem[]) : [];
}

/** A one-line summary of an error body (details joined), at most 500 characters. */
export function errorDetail(body: unknown): string {
  const errors = errorsOf(body);
  if (!errors.length) return typeof body === 'string' ? body.slice(0, 300) : '';
  return errors
    .map((e) => e.detail ?? e.title ?? e.code ?? '')
    .filter(Boolean)
    .join('; ')
    .slice(0, 500);
}

/**
 * Sends `events` in as many requests as needed and accounts for each one.
 * @throws KlaviyoAuthError on 401/403; KlaviyoRequestError when the request itself is refused;
 *   LoadDeadlineError when waiting would pass `deadline`; `signal.reason` when aborted.
 */
export async function loadEvents(events: readonly KlaviyoEvent[], opts: LoadOptions): Promise<LoadResult> {
  const load = openLoad<KlaviyoEvent>(opts);
  try {
    // Everything is at hand: queue it all at once (no backpressure), so requests group each profile's
    // events from anywhere in the list.
    load.write(events, events, { wait: false }).catch(() => undefined);
  } catch (e) {
    load.abort(e);
  }
  return load.end();
}

/** A load in progress (`openLoad`). Call `end()` once everything is written, or `abort()`. */
export interface LoadStream<T> {
  /**
   * Encodes `events` (deduplicated against everything written before), packs every full request and
   * queues it. Resolves once fewer than `maxQueued` requests wait (immediately with `wait: false`).
   * `tags[i]` is what a reject of `events[i]` carries as `event` (default: the event): keep it small,
   * it lives as long as its request is unanswered.
   * @throws the load's failure (the error `end()` would throw) as soon as there is one.
   */
  write(events: readonly KlaviyoEvent[], tags?: readonly T[], opts?: { wait?: boolean }): Promise<void>;
  /**
   * Sends what is left (the last, partly filled request), waits for every answer and returns the
   * accounting. @throws as `loadEvents`.
   */
  end(): Promise<LoadResult<T>>;
  /** Stops: nothing more is sent, requests in flight are aborted, `write` and `end` throw `reason`. */
  abort(reason: unknown): void;
  /** Events written so far (including duplicates). */
  readonly written: number;
}

/**
 * Opens a streaming load: events are written chunk by chunk and sent as soon as full requests (1,000
 * events or 5 MB) can be made of them, with `concurrency` requests in flight; every behaviour of
 * `loadEvents` holds (limiter, retries, 400 pointers and splitting, 401/403, 413, 429, deadline).
 * Memory is bounded by the requests queued and in flight, not by how much is written.
 */
export function openLoad<T = KlaviyoEvent>(opts: LoadOptions): LoadStream<T> {
  const clock = opts.clock ?? realClock;
  const random = opts.random ?? Math.random;
  const base = opts.baseBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const maxQueued = Math.max(1, opts.maxQueued ?? concurrency);
  const limits = { maxEvents: opts.maxEvents ?? BULK_LIMITS.maxEvents, maxBytes: opts.maxBytes ?? BULK_LIMITS.maxBytes };
  const result: LoadResult<T> = { accepted: 0, duplicates: 0, rejects: [], requests: 0, throttled: 0, retries: 0, splits: 0, bytesAccepted: 0 };
  const encoder = new EventEncoder(opts.backfill);

  const queue: BulkBatch<T>[] = [];
  /** Encoded events not yet packed into a full request. */
  let pending: EncodedEvent<T>[] = [];
  let pendingBytes = 0;
  let written = 0;
  let ended = false;
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  let failure: unknown;
  let isolatedWithoutPointer = 0;

  const rejectOversize = (list: EncodedEvent<T>[]) => {
    for (const it of list) {
      result.rejects.push({
        event: it.event,
        reason: 'payload_too_large',
        detail: `the event is ${it.bytes} bytes serialised; one request may hold at most ${limits.maxBytes} bytes`,
      });
    }
  };

  const progress = (): LoadProgress => ({
    accepted: result.accepted,
    rejected: result.rejects.length,
    requests: result.requests,
    throttled: result.throttled,
    retries: result.retries,
    pending: written - result.accepted - result.duplicates - result.rejects.length,
  });
  const report = () => opts.onProgress?.(progress());

  // Workers and writers wait for any change of state (a request queued, taken or answered, the end, a failure).
  let waiters: (() => void)[] = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const changed = () => new Promise<void>((r) => waiters.push(r));

  const fail = (e: unknown) => {
    if (failure !== undefined) return;
    failure = e;
    stop.abort(e);
    queue.length = 0;
    pending = [];
    wake();
  };

  const wait = async (ms: number, why: string) => {
    if (opts.deadline !== undefined && clock.now() + ms > opts.deadline) {
      throw new LoadDeadlineError(`gave up on a Klaviyo request before the activity's deadline: ${why}; the next attempt was due in ${Math.round(ms / 1000)} s`);
    }
    await clock.sleep(ms, signal);
  };

  /**
   * Packs the pending events into requests and queues them. Unless `all`, the last request is held back
   * while it is not full (it fills up with the next events), so requests stay full across chunks.
   */
  const pack = (all: boolean) => {
    if (!pending.length) return;
    if (!all && pending.length < limits.maxEvents && pendingBytes < limits.maxBytes) return;
    const p = packBatches(pending, limits);
    rejectOversize(p.oversize);
    pending = [];
    pendingBytes = 0;
    const batches = p.batches;
    if (!all && batches.length) {
      const last = batches[batches.length - 1];
      if (last.items.length < limits.maxEvents && last.bytes < limits.maxBytes * 0.9) {
        batches.pop();
        pending = last.items;
        for (const it of pending) pendingBytes += it.bytes;
      }
    }
    for (const b of batches) queue.push(b);
    if (batches.length) wake();
  };

  const requeue = (list: EncodedEvent<T>[]) => {
    if (!list.length) return;
    const p = packBatches(list, limits);
    rejectOversize(p.oversize);
    queue.unshift(...p.batches);
    result.splits++;
  };

  const reject = (it: EncodedEvent<T>, detail: string) => result.rejects.push({ event: it.event, reason: 'api_rejected', detail });

  /** Handles a 400/422: rejects what the pointers name and queues the rest, or splits; throws for request-level errors. */
  const onBadRequest = (batch: BulkBatch<T>, r: SendOutcome): void => {
    const errors = errorsOf(r.body);
    const bad = new Map<number, string>();
    const requestLevel: string[] = [];
    const at = new Map<string, number>();
    batch.positions.forEach(([g, e], i) => at.set(`${g}:${e}`, i));
    for (const err of errors) {
      const detail = err.detail ?? err.title ?? `HTTP ${r.status}`;
      const src = err.source ?? {};
      if (src.header !== undefined || src.parameter !== undefined) {
        requestLevel.push(`${detail} (${src.header !== undefined ? `header ${src.header}` : `parameter ${src.parameter}`})`);
        continue;
      }
      const ptr = src.pointer;
      if (ptr === undefined || LIST_POINTER.test(ptr)) continue; // no usable pointer
      const m = ITEM_POINTER.exec(ptr);
      if (!m) {
        requestLevel.push(`${detail} (${ptr})`);
        continue;
      }
      const g = Number(m[1]);
      const ev = EVENT_SUB.exec(m[2] ?? '');
      if (ev) {
        const i = at.get(`${g}:${Number(ev[1])}`);
        if (i !== undefined && !bad.has(i)) bad.set(i, ev[2] ? `${fieldOf(ev[2])}: ${detail}` : detail);
        continue;
      }
      const pr = PROFILE_SUB.exec(m[2] ?? '');
      const field = pr ? `profile${pr[1] ? `.${fieldOf(pr[1])}` : ''}: ` : '';
      batch.positions.forEach(([pg], i) => {
        if (pg === g && !bad.has(i)) bad.set(i, field + detail);
      });
    }
    if (bad.size > 0) {
      const rest: EncodedEvent<T>[] = [];
      batch.items.forEach((it, i) => {
        const d = bad.get(i);
        if (d !== undefined) reject(it, d);
        else rest.push(it);
      });
      requeue(rest);
      return;
    }
    if (requestLevel.length > 0) {
      throw new KlaviyoRequestError(
        `Klaviyo refused the bulk request as a whole (HTTP ${r.status}): ${requestLevel.join('; ').slice(0, 500)}`,
        r.status,
        false,
      );
    }
    if (batch.items.length === 1) {
      isolatedWithoutPointer++;
      if (isolatedWithoutPointer >= SUSPECT_AFTER && result.accepted === 0) {
        throw new KlaviyoRequestError(
          `Klaviyo refused each of ${isolatedWithoutPointer} events sent alone (HTTP ${r.status}) without naming a field, and accepted none: ` +
            `this looks like a problem of the request or the account, not of the events: ${errorDetail(r.body) || 'no detail'}`,
          r.status,
          false,
        );
      }
      reject(batch.items[0], `HTTP ${r.status}: ${errorDetail(r.body) || 'no detail'}`);
      return;
    }
    const half = Math.ceil(batch.items.length / 2);
    requeue(batch.items.slice(half));
    requeue(batch.items.slice(0, half));
  };

  async function sendBatch(batch: BulkBatch<T>): Promise<void> {
    let attempt = 0;
    for (;;) {
      const permit = await opts.limiter.acquire({ signal, deadline: opts.deadline });
      result.requests++;
      let r: SendOutcome;
      try {
        r = await opts.sender.send(batch, { signal });
      } catch (e) {
        permit.settle(null);
        throw e;
      }
      permit.settle(r.status ? { status: r.status, headers: r.headers, receivedAt: clock.now() } : null);
      if (signal.aborted) throw signal.reason;
      const s = r.status;
      if (s >= 200 && s < 300) {
        result.accepted += batch.items.length;
        result.bytesAccepted += batch.bytes;
        report();
        return;
      }
      if (s === 401 || s === 403) throw new KlaviyoAuthError(s, errorDetail(r.body));
      if (s === 429) {
        result.throttled++;
        report();
        continue; // the limiter holds this and every other request until Retry-After has passed
      }
      if (s === 0 || s === 408 || s >= 500) {
        result.retries++;
        report();
        let delay = Math.min(maxBackoff, base * 2 ** attempt) * (0.5 + random());
        if (s === 503 && r.headers['retry-after'] !== undefined) delay = Math.max(delay, retryAfterMs(r.headers['retry-after'], clock.now()));
        attempt++;
        await wait(delay, `attempt ${attempt} got ${s ? `HTTP ${s}` : r.networkError ?? 'no answer'}`);
        continue;
      }
      if (s === 413) {
        if (batch.items.length === 1) {
          result.rejects.push({ event: batch.items[0].event, reason: 'payload_too_large', detail: `HTTP 413: ${errorDetail(r.body) || 'payload too large'}` });
        } else {
          const half = Math.ceil(batch.items.length / 2);
          requeue(batch.items.slice(half));
          requeue(batch.items.slice(0, half));
        }
        report();
        return;
      }
      if (s === 400 || s === 422) {
        onBadRequest(batch, r);
        report();
        return;
      }
      throw new KlaviyoRequestError(
        `Klaviyo answered HTTP ${s} to POST /api/event-bulk-create-jobs (check KLAVIYO_BASE_URL): ${errorDetail(r.body) || 'no detail'}`,
        s,
        false,
      );
    }
  }

  // A work queue: splits and re-sends go to the front and are picked up by any idle worker. Workers
  // stop once the stream has ended and nothing is queued or in flight (a request in flight may still
  // split into new ones).
  let active = 0;
  async function worker(): Promise<void> {
    for (;;) {
      if (failure !== undefined) return;
      const b = queue.shift();
      if (!b) {
        if (ended && active === 0) return wake();
        await changed();
        continue;
      }
      active++;
      wake(); // a writer may be waiting for room
      try {
        await sendBatch(b);
      } catch (e) {
        fail(e);
      } finally {
        active--;
        wake();
      }
    }
  }

  const heartbeat = opts.onProgress ? setInterval(report, opts.heartbeatMs ?? 5000) : undefined;
  heartbeat?.unref?.();
  const workers = Promise.all(Array.from({ length: concurrency }, worker));
  // A failure before `end()` is reported by `write`/`end`; never as an unhandled rejection.
  workers.catch(() => undefined);
  const onAbort = () => fail(opts.signal!.reason);
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });

  return {
    get written() {
      return written;
    },
    async write(events, tags, wopts = {}) {
      if (failure !== undefined) throw failure;
      if (ended) throw new Error('write() after end()');
      for (let i = 0; i < events.length; i++) {
        const item = encoder.encode<T>(events[i], tags ? tags[i] : (events[i] as unknown as T));
        written++;
        if (!item) {
          result.duplicates++;
          continue;
        }
        pending.push(item);
        pendingBytes += item.bytes;
      }
      encoder.forgetProfiles();
      pack(false);
      if (wopts.wait === false) return;
      while (failure === undefined && queue.length >= maxQueued) await changed();
      if (failure !== undefined) throw failure;
    },
    async end() {
      if (failure === undefined && !ended) {
        pack(true);
        ended = true;
        wake();
      }
      try {
        await workers;
      } finally {
        if (heartbeat) clearInterval(heartbeat);
        opts.signal?.removeEventListener('abort', onAbort);
      }
      if (failure !== undefined) throw failure;
      return result;
    },
    abort(reason) {
      fail(reason);
      ended = true;
      if (heartbeat) clearInterval(heartbeat);
      opts.signal?.removeEventListener('abort', onAbort);
    },
  };
}

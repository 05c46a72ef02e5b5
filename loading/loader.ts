/**
 * The loader: sends a page's events to Klaviyo's Bulk Create Events endpoint and accounts for every
 * event: accepted (a 202 covered it), a duplicate inside the page (not sent: Klaviyo would drop it), or a
 * reject with the API's reason. It never loses an event silently: any other outcome is an error and the
 * page is not committed.
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
import { encodeEvents, packBatches, BULK_LIMITS, type BulkBatch, type EncodedEvent } from './bulk.ts';
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
  send(batch: BulkBatch, opts?: { signal?: AbortSignal }): Promise<SendOutcome>;
}

/** An event Klaviyo refused (or that cannot fit any request), with the reason. */
export interface ApiReject {
  event: KlaviyoEvent;
  reason: 'api_rejected' | 'payload_too_large';
  /** The API's detail, prefixed with the field it names when the pointer names one (e.g. `profile.email: ...`). */
  detail: string;
}

/** What happened to a page's events: `accepted + duplicates + rejects.length === events.length`. */
export interface LoadResult {
  /** Events covered by a 2xx answer. */
  accepted: number;
  /** Events not sent because an earlier event of the page had the same profile, metric and unique_id. */
  duplicates: number;
  rejects: ApiReject[];
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
  const clock = opts.clock ?? realClock;
  const random = opts.random ?? Math.random;
  const base = opts.baseBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const limits = { maxEvents: opts.maxEvents ?? BULK_LIMITS.maxEvents, maxBytes: opts.maxBytes ?? BULK_LIMITS.maxBytes };
  const result: LoadResult = { accepted: 0, duplicates: 0, rejects: [], requests: 0, throttled: 0, retries: 0, splits: 0, bytesAccepted: 0 };

  const { items, duplicates } = encodeEvents(events, { backfill: opts.backfill });
  result.duplicates = duplicates.length;
  const first = packBatches(items, limits);
  const rejectOversize = (list: EncodedEvent[]) => {
    for (const it of list) {
      result.rejects.push({
        event: it.event,
        reason: 'payload_too_large',
        detail: `the event is ${it.bytes} bytes serialised; one request may hold at most ${limits.maxBytes} bytes`,
      });
    }
  };
  rejectOversize(first.oversize);

  const queue: BulkBatch[] = [...first.batches];
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  let failure: unknown;
  let isolatedWithoutPointer = 0;

  const progress = (): LoadProgress => ({
    accepted: result.accepted,
    rejected: result.rejects.length,
    requests: result.requests,
    throttled: result.throttled,
    retries: result.retries,
    pending: events.length - result.accepted - result.duplicates - result.rejects.length,
  });
  const report = () => opts.onProgress?.(progress());

  const wait = async (ms: number, why: string) => {
    if (opts.deadline !== undefined && clock.now() + ms > opts.deadline) {
      throw new LoadDeadlineError(`gave up on a Klaviyo request before the activity's deadline: ${why}; the next attempt was due in ${Math.round(ms / 1000)} s`);
    }
    await clock.sleep(ms, signal);
  };

  const requeue = (list: EncodedEvent[]) => {
    if (!list.length) return;
    const p = packBatches(list, limits);
    rejectOversize(p.oversize);
    queue.unshift(...p.batches);
    result.splits++;
  };

  const reject = (it: EncodedEvent, detail: string) => result.rejects.push({ event: it.event, reason: 'api_rejected', detail });

  /** Handles a 400/422: rejects what the pointers name and queues the rest, or splits; throws for request-level errors. */
  const onBadRequest = (batch: BulkBatch, r: SendOutcome): void => {
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
      const rest: EncodedEvent[] = [];
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

  async function sendBatch(batch: BulkBatch): Promise<void> {
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

  // A work queue: splits and re-sends go to the front and are picked up by any idle worker.
  let active = 0;
  let idle: (() => void)[] = [];
  const wake = () => {
    const w = idle;
    idle = [];
    for (const f of w) f();
  };
  async function worker(): Promise<void> {
    for (;;) {
      if (failure !== undefined) return;
      const b = queue.shift();
      if (!b) {
        if (active === 0) return wake();
        await new Promise<void>((r) => idle.push(r));
        continue;
      }
      active++;
      try {
        await sendBatch(b);
      } catch (e) {
        if (failure === undefined) {
          failure = e;
          stop.abort(e);
        }
      } finally {
        active--;
        wake();
      }
    }
  }

  const heartbeat = opts.onProgress ? setInterval(report, opts.heartbeatMs ?? 5000) : undefined;
  heartbeat?.unref?.();
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
  } finally {
    if (heartbeat) clearInterval(heartbeat);
  }
  if (failure !== undefined) throw failure;
  return result;
}

/**
 * The loader: sends a page's events to Klaviyo's Bulk Create Events endpoint and reports, for every
 * event, whether Klaviyo accepted it (202) or rejected it (400 with a pointer to the item). It owns
 * retries (429 after Retry-After; 5xx, timeouts and resets with exponential backoff and jitter),
 * pacing through the account's shared `RateLimiter`, and the isolation of bad items in a 400.
 *
 * The sender is injected (`BulkSender`), so this module is testable against any HTTP server.
 */
import type { KlaviyoEvent } from '../mapping/types.ts';
import { buildBatches, type BulkBatch } from './bulk.ts';
import { realClock, type Clock, type RateLimiter } from './rate-limiter.ts';

/** One HTTP answer (status 0 = no answer: `networkError` says why). Header names are lower-case. */
export interface SendOutcome {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  networkError?: string;
}

/** Sends one bulk request, once. */
export interface BulkSender {
  /** Identifies the Klaviyo account (not the key itself) for the shared rate limiter. */
  readonly accountId: string;
  send(batch: BulkBatch): Promise<SendOutcome>;
}

/** The API refused the credentials (401) or their scope (403): retrying will not help. */
export class KlaviyoAuthError extends Error {
  constructor(readonly status: number, detail: string) {
    super(
      status === 401
        ? `Klaviyo refused the API key (401): check KLAVIYO_API_KEY is a valid private key. ${detail}`
        : `Klaviyo refused the request (403): the API key lacks the events:write scope. ${detail}`,
    );
    this.name = 'KlaviyoAuthError';
  }
}

/** Retries ran past the time the loader was given; the caller retries the page later. */
export class LoadDeadlineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadDeadlineError';
  }
}

/** An event Klaviyo refused, with the API's detail. */
export interface ApiReject {
  event: KlaviyoEvent;
  reason: 'api_rejected' | 'payload_too_large';
  detail: string;
}

/** What happened to a page's events. */
export interface LoadResult {
  /** Events acknowledged by a 202. */
  accepted: number;
  /** Events removed before sending because they repeated (profile, metric, unique_id) within the page. */
  duplicates: number;
  rejects: ApiReject[];
  /** HTTP requests made, including retries. */
  requests: number;
  /** 429 answers received. */
  throttled: number;
  /** Retries after 5xx or network errors. */
  retries: number;
}

export interface LoadOptions {
  sender: BulkSender;
  limiter: RateLimiter;
  backfill: boolean;
  /** Requests in flight at once (the limiter still paces them). Default 4. */
  concurrency?: number;
  /** Give up (LoadDeadlineError) rather than wait past this epoch-ms time. */
  deadline?: number;
  /** Called after each request with progress (e.g. activity heartbeat). */
  onProgress?: (p: { accepted: number; requests: number }) => void;
  signal?: AbortSignal;
  clock?: Clock;
  /** First backoff delay in ms (doubles each retry up to `maxBackoffMs`). Default 500. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  maxEvents?: number;
  maxBytes?: number;
}

interface ErrorItem {
  detail?: string;
  title?: string;
  source?: { pointer?: string };
}

const POINTER = /^\/data\/attributes\/events-bulk-create\/data\/(\d+)(?:\/attributes\/(events\/data\/(\d+)|profile))?/;

/** Sends `events` in as many requests as needed; never throws for a rejected item, only for auth or deadline. */
export async function loadEvents(events: readonly KlaviyoEvent[], opts: LoadOptions): Promise<LoadResult> {
  const clock = opts.clock ?? realClock;
  const result: LoadResult = { accepted: 0, duplicates: 0, rejects: [], requests: 0, throttled: 0, retries: 0 };
  const limits = { maxEvents: opts.maxEvents, maxBytes: opts.maxBytes, backfill: opts.backfill };
  const first = buildBatches(events, limits);
  result.duplicates = first.duplicates.length;
  for (const e of first.oversize) {
    result.rejects.push({ event: e, reason: 'payload_too_large', detail: 'the event alone exceeds the 5 MB request limit' });
  }
  const queue: BulkBatch[] = [...first.batches];
  const base = opts.baseBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;

  const wait = async (ms: number, why: string) => {
    if (opts.deadline !== undefined && clock.now() + ms > opts.deadline) {
      throw new LoadDeadlineError(`gave up waiting ${Math.round(ms)} ms (${why}) before the activity's deadline`);
    }
    await clock.sleep(ms, opts.signal);
  };

  async function sendBatch(batch: BulkBatch): Promise<void> {
    let attempt = 0;
    for (;;) {
      await opts.limiter.acquire(opts.signal);
      result.requests++;
      const r = await opts.sender.send(batch);
      const remaining = r.headers['ratelimit-remaining'];
      const reset = r.headers['ratelimit-reset'];
      if (remaining !== undefined && reset !== undefined) opts.limiter.onHeaders(Number(remaining), Number(reset));
      if (r.status === 202 || (r.status >= 200 && r.status < 300)) {
        result.accepted += batch.events.length;
        opts.onProgress?.({ accepted: result.accepted, requests: result.requests });
        return;
      }
      if (r.status === 401 || r.status === 403) throw new KlaviyoAuthError(r.status, errorDetail(r.body));
      if (r.status === 429) {
        result.throttled++;
        const retryAfter = Number(r.headers['retry-after'] ?? '1');
        const jitter = Math.random() * 250;
        opts.limiter.onThrottled(Number.isFinite(retryAfter) ? retryAfter : 1, jitter);
        continue;
      }
      if (r.status === 0 || r.status >= 500 || r.status === 408) {
        result.retries++;
        const delay = Math.min(maxBackoff, base * 2 ** attempt) * (0.5 + Math.random());
        attempt++;
        await wait(delay, r.networkError ?? `HTTP ${r.status}`);
        continue;
      }
      // 400 and other 4xx: isolate the bad items, send the rest again.
      await splitRejected(batch, r);
      return;
    }
  }

  async function splitRejected(batch: BulkBatch, r: SendOutcome): Promise<void> {
    const errors = ((r.body as { errors?: ErrorItem[] } | undefined)?.errors ?? []) as ErrorItem[];
    const bad = new Map<number, string>();
    for (const err of errors) {
      const m = POINTER.exec(err.source?.pointer ?? '');
      if (!m) continue;
      const g = Number(m[1]);
      const detail = err.detail ?? err.title ?? `HTTP ${r.status}`;
      batch.positions.forEach(([pg, pe], i) => {
        if (pg !== g) return;
        if (m[3] === undefined || Number(m[3]) === pe) bad.set(i, detail);
      });
    }
    if (bad.size > 0) {
      const rest: KlaviyoEvent[] = [];
      batch.events.forEach((e, i) => {
        const d = bad.get(i);
        if (d !== undefined) result.rejects.push({ event: e, reason: 'api_rejected', detail: d });
        else rest.push(e);
      });
      if (rest.length) await sendAll(buildBatches(rest, limits).batches);
      return;
    }
    if (batch.events.length === 1) {
      result.rejects.push({ event: batch.events[0], reason: 'api_rejected', detail: `HTTP ${r.status}: ${errorDetail(r.body)}` });
      return;
    }
    const half = Math.ceil(batch.events.length / 2);
    await sendAll(buildBatches(batch.events.slice(0, half), limits).batches);
    await sendAll(buildBatches(batch.events.slice(half), limits).batches);
  }

  async function sendAll(batches: BulkBatch[]): Promise<void> {
    for (const b of batches) await sendBatch(b);
  }

  const workers = Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, async () => {
    for (let b = queue.shift(); b; b = queue.shift()) await sendBatch(b);
  });
  await Promise.all(workers);
  return result;
}

function errorDetail(body: unknown): string {
  const errors = (body as { errors?: ErrorItem[] } | undefined)?.errors;
  if (!errors?.length) return typeof body === 'string' ? body.slice(0, 300) : '';
  return errors.map((e) => e.detail ?? e.title ?? '').filter(Boolean).join('; ').slice(0, 500);
}

/** Where loads go and the pieces every Klaviyo sender shares. */
import { createHash } from 'node:crypto';

/** Klaviyo API revision sent with every request (the one the official SDK 23.0.0 was generated for). */
export const KLAVIYO_REVISION = '2026-07-15';

/** Where and as whom to send. The key is kept in memory only and never logged. */
export interface KlaviyoTarget {
  /** Private API key (`pk_...`). */
  apiKey: string;
  /** `https://a.klaviyo.com` or a local compatible API, e.g. `http://127.0.0.1:8765`. */
  baseUrl: string;
  /** Per-request timeout in milliseconds (no answer within it = a retryable failure). Default 60,000. */
  timeoutMs?: number;
  /**
   * The HTTP client: `http` (default) posts with Node's own `node:http`/`node:https`; `sdk` goes through
   * the official `klaviyo-api` SDK (same requests, but it loads ~2,000 modules, ~90 MB of memory, and
   * costs ~17% more loader CPU: README "Loading into Klaviyo").
   */
  client?: 'http' | 'sdk';
}

/**
 * A short, non-reversible identifier of an account (a hash of the key and the base URL), used to key the
 * shared rate limiter. Never the key itself.
 */
export function accountIdOf(apiKey: string, baseUrl = 'https://a.klaviyo.com'): string {
  return createHash('sha256').update(`${baseUrl.replace(/\/+$/, '')}\u0000${apiKey}`).digest('hex').slice(0, 12);
}

/** Header map with lower-case names and string values. */
export function lowerHeaders(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const src = h && typeof (h as { toJSON?: unknown }).toJSON === 'function' ? (h as { toJSON(): object }).toJSON() : h;
  if (src && typeof src === 'object') {
    for (const [k, v] of Object.entries(src as Record<string, unknown>)) if (v !== undefined && v !== null) out[k.toLowerCase()] = String(v);
  }
  return out;
}

/** Removes every occurrence of the API key from a text (error messages, echoed bodies). */
export function keyScrubber(apiKey: string): (s: string) => string {
  return (s) => (apiKey ? s.split(apiKey).join('<api key>') : s);
}

/** Parses a response body (text or already parsed) and removes the key if an echo holds it. */
export function scrubBody(data: unknown, scrub: (s: string) => string): unknown {
  if (data === undefined || data === null || data === '') return undefined;
  if (typeof data === 'string') {
    try {
      return JSON.parse(scrub(data));
    } catch {
      return scrub(data);
    }
  }
  const text = JSON.stringify(data);
  const clean = scrub(text);
  return clean === text ? data : JSON.parse(clean);
}

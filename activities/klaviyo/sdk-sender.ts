/**
 * Sends bulk jobs through the official `klaviyo-api` SDK (`EventsApi.bulkCreateEvents`), with the SDK's
 * own retry turned off: one call = one HTTP attempt. The loader (`loading/loader.ts`) owns retries,
 * pacing and the handling of partial failures.
 */
import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import axios, { type AxiosRequestConfig, type AxiosResponse } from 'axios';
import * as klaviyo from 'klaviyo-api';
import type { BulkBatch, WireBulkJob } from '../../loading/bulk.ts';
import type { BulkSender, SendOutcome } from '../../loading/loader.ts';

/** Klaviyo API revision sent with every request (the one the SDK 23.0.0 was generated for). */
export const KLAVIYO_REVISION = '2026-07-15';

/** Where and as whom to send. The key is kept in memory only and never logged. */
export interface KlaviyoTarget {
  /** Private API key (`pk_...`). */
  apiKey: string;
  /** `https://a.klaviyo.com` or a local compatible API, e.g. `http://127.0.0.1:8765`. */
  baseUrl: string;
  /** Per-request timeout in milliseconds. Default 60,000. */
  timeoutMs?: number;
}

/** A short, non-reversible identifier of an API key (for rate-limiter keys and logs). */
export function accountIdOf(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex').slice(0, 12);
}

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

/** An SDK session that authenticates, sets timeouts and makes exactly one attempt per call. */
class SingleAttemptSession implements klaviyo.Session {
  constructor(
    private readonly apiKey: string,
    private readonly timeoutMs: number,
  ) {}
  applyToRequest(config: AxiosRequestConfig): void {
    config.headers = { ...(config.headers ?? {}), Authorization: `Klaviyo-API-Key ${this.apiKey}`, revision: KLAVIYO_REVISION };
    config.timeout = this.timeoutMs;
    config.httpAgent = httpAgent;
    config.httpsAgent = httpsAgent;
    config.maxBodyLength = Infinity;
    config.maxContentLength = Infinity;
    config.validateStatus = () => true; // every answer is returned and classified by the loader
  }
  async requestWithRetry(config: AxiosRequestConfig): Promise<AxiosResponse> {
    return axios(config);
  }
  refreshAndRetry(): boolean {
    return false;
  }
}

function toModel(body: WireBulkJob): klaviyo.EventsBulkCreateJob {
  return {
    data: {
      type: 'event-bulk-create-job',
      attributes: {
        eventsBulkCreate: {
          data: body.data.attributes['events-bulk-create'].data.map((g) => ({
            type: 'event-bulk-create',
            attributes: {
              profile: {
                data: {
                  type: 'profile',
                  id: g.attributes.profile.data.id,
                  attributes: {
                    email: g.attributes.profile.data.attributes.email,
                    phoneNumber: g.attributes.profile.data.attributes.phone_number,
                    externalId: g.attributes.profile.data.attributes.external_id,
                  },
                },
              },
              events: {
                data: g.attributes.events.data.map((e) => ({
                  type: 'event',
                  attributes: {
                    properties: e.attributes.properties,
                    time: e.attributes.time as unknown as Date, // the SDK passes strings through unchanged
                    value: e.attributes.value,
                    valueCurrency: e.attributes.value_currency,
                    uniqueId: e.attributes.unique_id,
                    backfill: e.attributes.backfill,
                    metric: { data: { type: 'metric', attributes: { name: e.attributes.metric.data.attributes.name } } },
                  },
                })),
              },
            },
          })),
        },
      },
    },
  } as klaviyo.EventsBulkCreateJob;
}

/** Creates a `BulkSender` that posts through the SDK. */
export function sdkSender(target: KlaviyoTarget): BulkSender {
  const api = new klaviyo.EventsApi(new SingleAttemptSession(target.apiKey, target.timeoutMs ?? 60_000) as unknown as klaviyo.ApiKeySession);
  api.basePath = target.baseUrl.replace(/\/+$/, '');
  return {
    accountId: accountIdOf(target.apiKey),
    async send(batch: BulkBatch): Promise<SendOutcome> {
      try {
        const { response } = await api.bulkCreateEvents(toModel(batch.body));
        return { status: response.status, headers: lowerHeaders(response.headers), body: response.data };
      } catch (e) {
        const err = e as { code?: string; message?: string };
        return { status: 0, headers: {}, body: undefined, networkError: `${err.code ?? 'ERROR'}: ${err.message ?? String(e)}` };
      }
    },
  };
}

function lowerHeaders(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (h && typeof h === 'object') {
    for (const [k, v] of Object.entries(h as Record<string, unknown>)) if (v !== undefined) out[k.toLowerCase()] = String(v);
  }
  return out;
}

/**
 * Sends bulk jobs through the official `klaviyo-api` SDK (`EventsApi.bulkCreateEvents`) with the SDK's
 * own retry turned off: one call = one HTTP attempt. The loader (`loading/loader.ts`) owns retries,
 * pacing and the handling of partial failures.
 *
 * The request body is the one `loading/bulk.ts` assembled (each event serialised once, its size known
 * exactly), handed to the SDK's session as bytes. The SDK's own model serialisation (`ObjectSerializer`
 * over camelCase models, then axios' JSON.stringify) would serialise every event twice more and cost
 * more CPU than the rest of the loader (see README "Loading into Klaviyo" for the figures and
 * `npm run bench:load -- --sender sdk-model` to reproduce them), and the bytes measured for the 5 MB
 * limit would no longer be the bytes sent. The SDK still supplies the endpoint, the revision, the
 * user agent and the Authorization header (`ApiKeySession.applyToRequest`), and axios the transport.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import axios, { type AxiosRequestConfig, type AxiosResponse } from 'axios';
import * as klaviyo from 'klaviyo-api';
import type { BulkBatch } from '../../loading/bulk.ts';
import type { BulkSender, SendOutcome } from '../../loading/loader.ts';
import { accountIdOf, keyScrubber, KLAVIYO_REVISION, lowerHeaders, scrubBody, type KlaviyoTarget } from './target.ts';

export { accountIdOf, KLAVIYO_REVISION, lowerHeaders, type KlaviyoTarget };

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

/** Stands in for the model the SDK would serialise; the body is supplied as bytes by the session. */
const PRE_ENCODED = { data: undefined } as unknown as klaviyo.EventsBulkCreateJob;

/**
 * The SDK's API-key session (it sets Authorization, revision and User-Agent), making exactly one attempt
 * per call, with a timeout, keep-alive agents, every status returned to the caller, and (when given) a
 * pre-encoded JSON body.
 */
export class SingleAttemptSession extends klaviyo.ApiKeySession {
  constructor(
    apiKey: string,
    private readonly timeoutMs: number,
    private readonly body?: Buffer,
    private readonly signal?: AbortSignal,
  ) {
    super(apiKey);
  }
  override applyToRequest(config: AxiosRequestConfig): void {
    config.headers = { ...(config.headers ?? {}) };
    super.applyToRequest(config);
    config.headers.revision = KLAVIYO_REVISION;
    if (this.body) {
      config.data = this.body;
      config.headers['Content-Type'] = 'application/vnd.api+json';
      config.transformRequest = [(d: unknown) => d];
    }
    config.timeout = this.timeoutMs;
    config.httpAgent = httpAgent;
    config.httpsAgent = httpsAgent;
    config.maxBodyLength = Infinity;
    config.maxContentLength = Infinity;
    config.maxRedirects = 0;
    if (this.signal) config.signal = this.signal;
    config.validateStatus = () => true; // every answer is returned and classified by the loader
  }
  override async requestWithRetry(config: AxiosRequestConfig): Promise<AxiosResponse> {
    return axios(config);
  }
}

/** Creates a `BulkSender` that posts through the SDK. */
export function sdkSender(target: KlaviyoTarget): BulkSender {
  const basePath = target.baseUrl.replace(/\/+$/, '');
  const timeoutMs = target.timeoutMs ?? 60_000;
  const scrub = keyScrubber(target.apiKey);
  return {
    accountId: accountIdOf(target.apiKey, basePath),
    async send(batch: BulkBatch, opts?: { signal?: AbortSignal }): Promise<SendOutcome> {
      const api = new klaviyo.EventsApi(new SingleAttemptSession(target.apiKey, timeoutMs, batch.bodyBuffer(), opts?.signal));
      api.basePath = basePath;
      try {
        const { response } = await api.bulkCreateEvents(PRE_ENCODED);
        return { status: response.status, headers: lowerHeaders(response.headers), body: scrubBody(response.data, scrub) };
      } catch (e) {
        const err = e as { code?: string; message?: string };
        return { status: 0, headers: {}, body: undefined, networkError: scrub(`${err.code ?? 'ERROR'}: ${err.message ?? String(e)}`) };
      }
    },
  };
}


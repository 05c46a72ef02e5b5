/**
 * Sends bulk jobs with Node's own HTTP client (`node:http` / `node:https`, keep-alive): one call = one
 * attempt, every answer returned to the loader (`loading/loader.ts`), which owns retries, pacing and
 * partial failures. The body is the one `loading/bulk.ts` assembled, sent as is (its size is exact).
 *
 * This is the default sender. `sdk-sender.ts` sends the same request through the official SDK.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { BulkBatch } from '../../loading/bulk.ts';
import type { BulkSender, SendOutcome } from '../../loading/loader.ts';
import { accountIdOf, keyScrubber, KLAVIYO_REVISION, lowerHeaders, scrubBody, type KlaviyoTarget } from './target.ts';

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

/** Creates a `BulkSender` posting to `<baseUrl>/api/event-bulk-create-jobs`. */
export function httpSender(target: KlaviyoTarget): BulkSender {
  const base = target.baseUrl.replace(/\/+$/, '');
  const url = new URL(`${base}/api/event-bulk-create-jobs`);
  const secure = url.protocol === 'https:';
  const timeoutMs = target.timeoutMs ?? 60_000;
  const scrub = keyScrubber(target.apiKey);
  return {
    accountId: accountIdOf(target.apiKey, base),
    send(batch: BulkBatch, opts?: { signal?: AbortSignal }): Promise<SendOutcome> {
      const body = batch.bodyBuffer();
      return new Promise((resolve) => {
        let settled = false;
        const done = (o: SendOutcome) => {
          if (!settled) {
            settled = true;
            resolve(o);
          }
        };
        const onResponse = (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => done({ status: 0, headers: {}, body: undefined, networkError: scrub(`${(e as NodeJS.ErrnoException).code ?? 'ERROR'}: ${e.message}`) }));
          res.on('end', () => done({ status: res.statusCode ?? 0, headers: lowerHeaders(res.headers), body: scrubBody(Buffer.concat(chunks).toString('utf8'), scrub) }));
        };
        const options = {
          method: 'POST',
          agent: secure ? httpsAgent : httpAgent,
          timeout: timeoutMs,
          signal: opts?.signal,
          headers: {
            Authorization: `Klaviyo-API-Key ${target.apiKey}`,
            revision: KLAVIYO_REVISION,
            'Content-Type': 'application/vnd.api+json',
            Accept: 'application/vnd.api+json',
            'Content-Length': body.length,
            'User-Agent': 'dwh-import',
          },
        };
        const req = secure ? httpsRequest(url, options, onResponse) : httpRequest(url, options, onResponse);
        req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
        req.on('error', (e) => done({ status: 0, headers: {}, body: undefined, networkError: scrub(`${(e as NodeJS.ErrnoException).code ?? 'ERROR'}: ${e.message}`) }));
        req.end(body);
      });
    },
  };
}

/**
 * The sender a target asks for: the HTTP sender, or the SDK sender loaded on first use (so a worker
 * that does not use it never loads the SDK).
 */
export function senderFor(target: KlaviyoTarget): BulkSender {
  if ((target.client ?? 'http') === 'http') return httpSender(target);
  let sdk: Promise<BulkSender> | undefined;
  return {
    accountId: accountIdOf(target.apiKey, target.baseUrl.replace(/\/+$/, '')),
    async send(batch, opts) {
      sdk ??= import('./sdk-sender.ts').then((m) => m.sdkSender(target));
      return (await sdk).send(batch, opts);
    },
  };
}

/**
 * `npm run bench:load`: loads events into the local Klaviyo-compatible API (a separate process started
 * with `dwh-import local-api`, Klaviyo's real limits by default) through the loader and the SDK sender,
 * in pages as the sync activity does, and prints what the rate limit allowed and what was achieved:
 *
 * - per server window (fixed 60 s, starting at the server's own boundary): requests admitted vs 150;
 * - the share of the ceiling used in the windows where the load was limited by the budget (every window
 *   but the last; the first one's ceiling is what 10/s allows in the time left when the run started);
 * - wall-clock requests/min and events/s, 429 share, retries;
 * - the loader process's CPU per 1,000 events (user + system), and with `--sender` the cost of the
 *   SDK's own serialisation (`sdk-model`) or of no SDK at all (`http`).
 *
 * Options (after `--`): --events 300000 --page-size 5000 --syncs 1 --concurrency 4 --limits klaviyo|off
 *   --sender sdk|sdk-model|http --phase 45 (seconds left in the server's window when the run starts) --faults '<json>'
 *   --profiles 20000
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as klaviyo from 'klaviyo-api';
import { accountIdOf, KLAVIYO_REVISION, SingleAttemptSession, sdkSender, lowerHeaders } from '../activities/klaviyo/sdk-sender.ts';
import { encodeEvents, packBatches, type BulkBatch } from '../loading/bulk.ts';
import { loadEvents, type BulkSender, type LoadResult, type SendOutcome } from '../loading/loader.ts';
import { BULK_EVENTS_LIMITS, limiterFor } from '../loading/rate-limiter.ts';
import type { KlaviyoEvent } from '../mapping/types.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '300000' },
    'page-size': { type: 'string', default: '5000' },
    syncs: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '4' },
    limits: { type: 'string', default: 'klaviyo' },
    sender: { type: 'string', default: 'http' },
    phase: { type: 'string' },
    faults: { type: 'string' },
    profiles: { type: 'string', default: '20000' },
  },
});
const N = Number(args.events);
const PAGE = Number(args['page-size']);
const SYNCS = Number(args.syncs);
const LIMITS = args.limits === 'off' ? null : BULK_EVENTS_LIMITS;
const PROFILES = Number(args.profiles);
const KEY = 'pk_local_dev';
const WINDOW = 60_000;

/** A realistic order event (~700 bytes on the wire), deterministic in `i`. */
function makeEvent(i: number): KlaviyoEvent {
  const p = (i * 7919) % PROFILES;
  return {
    metric: i % 10 === 0 ? 'Refunded Order' : 'Placed Order',
    time: new Date(Date.UTC(2025, 0, 1) + i * 17_000).toISOString(),
    profile: { email: `customer${p}@shop.example.org`, external_id: `C${100000 + p}` },
    unique_id: `order-${i}`,
    value: Math.round(((i * 37) % 50000) + 99) / 100,
    value_currency: 'EUR',
    properties: {
      order_id: `order-${i}`,
      channel: i % 3 === 0 ? 'web' : 'app',
      items: [
        { sku: `SKU-${i % 997}`, name: 'Ceramic mug, hand-glazed, 350 ml', qty: 1 + (i % 3), price: 12.9 },
        { sku: `SKU-${(i * 3) % 997}`, name: 'Linen tea towel', qty: 1, price: 8.5 },
      ],
      discount_code: i % 5 === 0 ? 'SPRING10' : undefined,
      shipping: { method: 'standard', country: 'DE', city: 'Berlin', postcode: `10${i % 1000}` },
      is_first_order: i % 11 === 0,
      loyalty_points: i % 400,
      campaign: 'newsletter-2025-03',
    },
  };
}

function page(from: number, to: number): KlaviyoEvent[] {
  const out: KlaviyoEvent[] = [];
  for (let i = from; i < to; i++) out.push(makeEvent(i));
  return out;
}

// ---- senders used to measure the SDK's cost ---------------------------------------------------

/** The SDK as documented: camelCase models, ObjectSerializer, axios' JSON.stringify (one attempt). */
function sdkModelSender(baseUrl: string): BulkSender {
  const api = new klaviyo.EventsApi(new SingleAttemptSession(KEY, 60_000));
  api.basePath = baseUrl;
  return {
    accountId: accountIdOf(KEY, baseUrl),
    async send(batch: BulkBatch): Promise<SendOutcome> {
      const groups: klaviyo.EventsBulkCreateQueryResourceObject[] = [];
      batch.items.forEach((it, i) => {
        const [g] = batch.positions[i];
        const e = it.event;
        groups[g] ??= {
          type: 'event-bulk-create',
          attributes: {
            profile: { data: { type: 'profile', id: e.profile.id, attributes: { email: e.profile.email, phoneNumber: e.profile.phone_number, externalId: e.profile.external_id } } },
            events: { data: [] },
          },
        } as unknown as klaviyo.EventsBulkCreateQueryResourceObject;
        groups[g].attributes.events.data.push({
          type: 'event',
          attributes: {
            properties: e.properties,
            time: e.time as unknown as Date,
            value: e.value,
            valueCurrency: e.value_currency,
            uniqueId: e.unique_id,
            metric: { data: { type: 'metric', attributes: { name: e.metric } } },
          },
        } as unknown as klaviyo.EventsBulkCreateQueryResourceObjectAttributesEvents['data'][number]);
      });
      const body = { data: { type: 'event-bulk-create-job', attributes: { eventsBulkCreate: { data: groups } } } } as unknown as klaviyo.EventsBulkCreateJob;
      try {
        const { response } = await api.bulkCreateEvents(body);
        return { status: response.status, headers: lowerHeaders(response.headers), body: response.data || undefined };
      } catch (e) {
        return { status: 0, headers: {}, body: undefined, networkError: String((e as Error).message) };
      }
    },
  };
}

/** No SDK, no axios: node:http with the pre-assembled body. */
function httpSender(baseUrl: string): BulkSender {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const u = new URL(`${baseUrl}/api/event-bulk-create-jobs`);
  return {
    accountId: accountIdOf(KEY, baseUrl),
    send(batch: BulkBatch): Promise<SendOutcome> {
      const body = Buffer.from(batch.body(), 'utf8');
      return new Promise((resolve) => {
        const req = request(
          u,
          {
            method: 'POST',
            agent,
            headers: {
              Authorization: `Klaviyo-API-Key ${KEY}`,
              revision: KLAVIYO_REVISION,
              'Content-Type': 'application/vnd.api+json',
              Accept: 'application/vnd.api+json',
              'Content-Length': body.length,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let parsed: unknown;
              try {
                parsed = text ? JSON.parse(text) : undefined;
              } catch {
                parsed = text;
              }
              resolve({ status: res.statusCode ?? 0, headers: lowerHeaders(res.headers), body: parsed });
            });
          },
        );
        req.on('error', (e) => resolve({ status: 0, headers: {}, body: undefined, networkError: e.message }));
        req.end(body);
      });
    },
  };
}

// ---- the local API in its own process -----------------------------------------------------------

async function startApi(originMs: number): Promise<{ url: string; child: ChildProcess }> {
  const bin = fileURLToPath(new URL('../bin/dwh-import.js', import.meta.url));
  const argv = [bin, 'local-api', '--port', '0', '--api-key', KEY, '--window-origin', String(originMs)];
  if (!LIMITS) argv.push('--no-limits');
  if (args.faults) argv.push('--faults', args.faults);
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`local-api exited with ${code}: ${out}`)));
  });
  return { url, child };
}

interface Stats {
  requests: number;
  accepted_requests: number;
  accepted_events: number;
  duplicate_events: number;
  throttled: number;
  stored_events: number;
  bulk_windows: { index: number; start: number; admitted: number; throttled: number; throttledBurst: number }[];
}

// ---- run ------------------------------------------------------------------------------------------

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

// CPU of generating the events, measured alone, to subtract from the loader's.
const genStart = process.cpuUsage();
for (let from = 0; from < N; from += PAGE) page(from, Math.min(N, from + PAGE));
const genCpu = process.cpuUsage(genStart);
// CPU of encoding and packing alone (the loader's own serialisation).
const encStart = process.cpuUsage();
for (let from = 0; from < N; from += PAGE) packBatches(encodeEvents(page(from, Math.min(N, from + PAGE)), { backfill: false }).items);
const encCpu = process.cpuUsage(encStart);
const encMs = (encCpu.user + encCpu.system - genCpu.user - genCpu.system) / 1000;

const startAt = Date.now() + 4000;
const phase = Number(args.phase ?? 45);
const origin = startAt + phase * 1000 - WINDOW;
const { url, child } = await startApi(origin);
const sender = args.sender === 'http' ? httpSender(url) : args.sender === 'sdk-model' ? sdkModelSender(url) : sdkSender({ apiKey: KEY, baseUrl: url });
const limiter = limiterFor(sender.accountId, LIMITS);
if (Date.now() < startAt) await new Promise((r) => setTimeout(r, startAt - Date.now()));

const t0 = Date.now();
const leftInFirst = origin + WINDOW * Math.ceil((t0 - origin) / WINDOW) - t0;
console.log(
  `bench:load: ${fmt(N)} events, pages of ${fmt(PAGE)}, ${SYNCS} sync(s) sharing one limiter, concurrency ${args.concurrency}, sender ${args.sender}, ` +
    `limits ${LIMITS ? `${LIMITS.burstPerSecond}/s + ${LIMITS.steadyPerMinute}/min` : 'off'}; the run starts ${fmt(leftInFirst / 1000, 1)} s before the server's window ends`,
);
const totals: LoadResult = { accepted: 0, duplicates: 0, rejects: [], requests: 0, throttled: 0, retries: 0, splits: 0, bytesAccepted: 0 };
const cpu0 = process.cpuUsage();
let nextPage = 0;
let callCpuMs = 0;
let lastLog = t0;
await Promise.all(
  Array.from({ length: SYNCS }, async () => {
    for (;;) {
      const from = nextPage;
      if (from >= N) return;
      nextPage += PAGE;
      const events = page(from, Math.min(N, from + PAGE));
      const c0 = process.cpuUsage();
      const r = await loadEvents(events, { sender, limiter, backfill: false, concurrency: Number(args.concurrency) });
      const c = process.cpuUsage(c0);
      callCpuMs += (c.user + c.system) / 1000;
      totals.accepted += r.accepted;
      totals.duplicates += r.duplicates;
      totals.rejects.push(...r.rejects);
      totals.requests += r.requests;
      totals.throttled += r.throttled;
      totals.retries += r.retries;
      totals.bytesAccepted += r.bytesAccepted;
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        console.log(`  ${fmt((Date.now() - t0) / 1000, 1)} s: ${fmt(totals.accepted)} events accepted, ${totals.requests} requests, ${totals.throttled} x 429`);
      }
    }
  }),
);
const t1 = Date.now();
const cpu = process.cpuUsage(cpu0);
const stats = (await (await fetch(`${url}/_local/stats`)).json()) as Stats;
child.kill('SIGTERM');

const elapsed = (t1 - t0) / 1000;
// With one sync the CPU spent inside loadEvents is exactly the loader's (nothing else runs in this
// process meanwhile); with several, generation is subtracted as measured alone.
const loaderCpuMs = SYNCS === 1 ? callCpuMs : (cpu.user + cpu.system) / 1000 - (genCpu.user + genCpu.system) / 1000;
console.log('');
if (LIMITS) {
  const wins = stats.bulk_windows.filter((w) => w.admitted + w.throttled + w.throttledBurst > 0);
  console.log('server windows (fixed 60 s from the server\'s own boundary): admitted / ceiling, 429s');
  let used = 0;
  let ceiling = 0;
  wins.forEach((w, i) => {
    const last = i === wins.length - 1;
    const ceil =
      i === 0
        ? Math.min(LIMITS.steadyPerMinute, LIMITS.burstPerSecond * Math.ceil(Math.max(0, w.start + WINDOW - t0) / 1000))
        : LIMITS.steadyPerMinute;
    if (!last) {
      used += w.admitted;
      ceiling += ceil;
    }
    const t429 = [w.throttled ? `${w.throttled} x 429 (window spent)` : '', w.throttledBurst ? `${w.throttledBurst} x 429 (1 s burst)` : ''].filter(Boolean).join(', ');
    console.log(`  window ${i + 1}: ${w.admitted} / ${ceil}${t429 ? `, ${t429}` : ''}${last ? '  (last: the work ran out)' : ''}`);
  });
  const share = ceiling ? (100 * used) / ceiling : NaN;
  console.log(`budget used in every window but the last (the first at what 10/s allows in the time left): ${used} / ${ceiling} = ${fmt(share, 1)}% of the ceiling`);
  const middle = wins.slice(1, -1);
  if (middle.length) {
    const m = middle.reduce((a, w) => a + w.admitted, 0);
    console.log(`steady state (windows the run spanned from start to end): ${m} / ${middle.length * LIMITS.steadyPerMinute} = ${fmt((100 * m) / (middle.length * LIMITS.steadyPerMinute), 1)}%, ${fmt(m / middle.length, 1)} requests/min against the ${LIMITS.steadyPerMinute}/min ceiling`);
  } else {
    console.log(`achieved rate in the budget-limited windows: ${fmt((share / 100) * LIMITS.steadyPerMinute, 1)} requests/min against the ${LIMITS.steadyPerMinute}/min ceiling`);
  }
}
console.log(
  `wall clock: ${fmt(elapsed, 1)} s, ${fmt((60 * totals.requests) / elapsed, 1)} requests/min, ${fmt(totals.accepted / elapsed)} events/s ` +
    `(fixed windows let a short run exceed 150/min on the wall clock: each window's budget is spent at its start)`,
);
console.log(
  `requests ${totals.requests}: 429 ${totals.throttled} (${fmt((100 * totals.throttled) / Math.max(1, totals.requests), 2)}%), retries ${totals.retries}; ` +
    `events accepted ${fmt(totals.accepted)}, stored by the server ${fmt(stats.stored_events)}, duplicates dropped by the server ${stats.duplicate_events}, rejects ${totals.rejects.length}`,
);
console.log(
  `loader CPU: ${fmt(loaderCpuMs)} ms = ${fmt((1000 * loaderCpuMs) / N, 2)} ms per 1,000 events (encode+pack alone ${fmt((1000 * encMs) / N, 2)} ms per 1,000; ` +
    `${fmt(totals.bytesAccepted / Math.max(1, totals.accepted), 0)} bytes per event on the wire)`,
);
console.log(
  JSON.stringify({
    events: N,
    sender: args.sender,
    limits: LIMITS ? 'klaviyo' : 'off',
    elapsed_s: elapsed,
    requests: totals.requests,
    throttled: totals.throttled,
    accepted: totals.accepted,
    stored: stats.stored_events,
    loader_cpu_ms_per_1000: (1000 * loaderCpuMs) / N,
    encode_cpu_ms_per_1000: (1000 * encMs) / N,
    windows: stats.bulk_windows.map((w) => [w.admitted, w.throttled, w.throttledBurst]),
  }),
);
if (stats.stored_events !== N || totals.accepted !== N) {
  console.error(`MISMATCH: ${N} events generated, ${totals.accepted} accepted, ${stats.stored_events} stored`);
  process.exitCode = 1;
}

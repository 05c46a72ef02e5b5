/**
 * The worker's Prometheus metrics (prom-client), served at `http://<host>:<port>/metrics`.
 *
 * Sources, without touching the activity code:
 * - an activity interceptor sees every `prepareRun` / `loadPage` call and its result (counts only):
 *   rows read, events loaded, rejects and dropped identifiers by reason, page duration and outcome,
 *   the committed watermark;
 * - Node's `diagnostics_channel` for outgoing HTTP (`http.client.request.start` /
 *   `http.client.response.finish` / `http.client.request.error`) sees every request to the Klaviyo
 *   base URL: latency by endpoint and status, and the 429 answers.
 *
 * | metric | type | labels |
 * |---|---|---|
 * | dwh_import_rows_read_total | counter | sync |
 * | dwh_import_events_loaded_total | counter | sync (events Klaviyo accepted) |
 * | dwh_import_rows_rejected_total | counter | sync, reason |
 * | dwh_import_identifiers_dropped_total | counter | sync, reason (event kept) |
 * | dwh_import_pages_total | counter | sync, outcome (ok, failed) |
 * | dwh_import_page_duration_seconds | histogram | sync |
 * | dwh_import_watermark_timestamp_seconds | gauge | sync (change timestamp of the watermark, epoch s; zone-less read as UTC) |
 * | dwh_import_klaviyo_requests_total | counter | endpoint, status (HTTP code, or `error`) |
 * | dwh_import_klaviyo_request_duration_seconds | histogram | endpoint, status |
 * | dwh_import_klaviyo_throttled_total | counter | endpoint (answers 429) |
 * | process_*, nodejs_* | | prom-client's default process metrics |
 */
import dc from 'node:diagnostics_channel';
import { createServer, type ClientRequest, type IncomingMessage, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { PageInput, PageResult, PrepareInput, PrepareResult } from '../activities/types.ts';
import { literalMs } from '../ops/progress.ts';

/** The worker's metrics and their registry. */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly rowsRead = new Counter({ name: 'dwh_import_rows_read_total', help: 'Rows read from the warehouse', labelNames: ['sync'] as const, registers: [this.registry] });
  readonly eventsLoaded = new Counter({ name: 'dwh_import_events_loaded_total', help: 'Events Klaviyo accepted', labelNames: ['sync'] as const, registers: [this.registry] });
  readonly rejected = new Counter({ name: 'dwh_import_rows_rejected_total', help: 'Rows rejected, by reason code', labelNames: ['sync', 'reason'] as const, registers: [this.registry] });
  readonly dropped = new Counter({
    name: 'dwh_import_identifiers_dropped_total',
    help: 'Invalid profile identifiers dropped while the event still loaded, by reason',
    labelNames: ['sync', 'reason'] as const,
    registers: [this.registry],
  });
  readonly pages = new Counter({ name: 'dwh_import_pages_total', help: 'Page activities finished, by outcome', labelNames: ['sync', 'outcome'] as const, registers: [this.registry] });
  readonly pageSeconds = new Histogram({
    name: 'dwh_import_page_duration_seconds',
    help: 'Duration of one page activity (read, map, load, commit)',
    labelNames: ['sync'] as const,
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
    registers: [this.registry],
  });
  readonly watermark = new Gauge({
    name: 'dwh_import_watermark_timestamp_seconds',
    help: 'Change timestamp of the committed watermark (epoch seconds; zone-less timestamps read as UTC)',
    labelNames: ['sync'] as const,
    registers: [this.registry],
  });
  readonly klaviyoRequests = new Counter({ name: 'dwh_import_klaviyo_requests_total', help: 'HTTP requests to Klaviyo, by endpoint and status', labelNames: ['endpoint', 'status'] as const, registers: [this.registry] });
  readonly klaviyoSeconds = new Histogram({
    name: 'dwh_import_klaviyo_request_duration_seconds',
    help: 'Latency of HTTP requests to Klaviyo, until the response headers arrive',
    labelNames: ['endpoint', 'status'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly klaviyoThrottled = new Counter({ name: 'dwh_import_klaviyo_throttled_total', help: 'Klaviyo answers 429 (rate limited)', labelNames: ['endpoint'] as const, registers: [this.registry] });

  private unsubscribe: (() => void) | undefined;

  /** @param defaultMetrics also collect prom-client's process metrics (CPU, memory, event loop). */
  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Records a finished `loadPage`. */
  recordPage(input: PageInput, r: PageResult, seconds: number): void {
    const sync = input.sync.name;
    this.rowsRead.inc({ sync }, r.rowsRead);
    this.eventsLoaded.inc({ sync }, r.eventsAccepted);
    for (const [reason, n] of Object.entries(r.rejected)) this.rejected.inc({ sync, reason }, n);
    for (const [reason, n] of Object.entries(r.warnings)) this.dropped.inc({ sync, reason }, n);
    this.pages.inc({ sync, outcome: 'ok' });
    this.pageSeconds.observe({ sync }, seconds);
    if (input.phase === 'main' && input.stateKey === sync && r.watermark) this.setWatermark(sync, r.watermark.ts);
  }

  /** Records a finished `prepareRun` (rows with a NULL change timestamp are rejects of the run). */
  recordPrepare(input: PrepareInput, r: PrepareResult): void {
    const sync = input.sync.name;
    if (r.nullChangeRows > 0) this.rejected.inc({ sync, reason: 'null_change_timestamp' }, r.nullChangeRows);
    if (input.stateKey === sync && r.watermark) this.setWatermark(sync, r.watermark.ts);
  }

  private setWatermark(sync: string, ts: string): void {
    const ms = literalMs(ts);
    if (Number.isFinite(ms)) this.watermark.set({ sync }, ms / 1000);
  }

  /** An activity interceptor factory recording every sync activity. */
  activityInterceptor(): ActivityInterceptorsFactory {
    return (ctx) => ({
      inbound: {
        execute: async (input, next) => {
          const type = ctx.info.activityType;
          const started = process.hrtime.bigint();
          try {
            const result = await next(input);
            const seconds = Number(process.hrtime.bigint() - started) / 1e9;
            if (type === 'loadPage') this.recordPage(input.args[0] as PageInput, result as PageResult, seconds);
            else if (type === 'prepareRun') this.recordPrepare(input.args[0] as PrepareInput, result as PrepareResult);
            return result;
          } catch (e) {
            if (type === 'loadPage') this.pages.inc({ sync: (input.args[0] as PageInput).sync.name, outcome: 'failed' });
            throw e;
          }
        },
      },
    });
  }

  /**
   * Starts recording the process's HTTP requests to `baseUrl` (Klaviyo). Idempotent per instance;
   * `stop()` ends it.
   */
  watchKlaviyo(baseUrl: string): void {
    if (this.unsubscribe) return;
    const target = new URL(baseUrl);
    const host = target.host.toLowerCase();
    const started = new WeakMap<ClientRequest, bigint>();
    const endpointOf = (req: ClientRequest) => {
      const path = (req.path ?? '/').split('?')[0];
      return path.split('/').filter(Boolean).slice(0, 2).join('/').replace(/^/, '/');
    };
    const mine = (req: ClientRequest) => String(req.getHeader('host') ?? '').toLowerCase() === host;
    const onStart = (m: unknown) => {
      const { request } = m as { request: ClientRequest };
      if (mine(request)) started.set(request, process.hrtime.bigint());
    };
    const done = (request: ClientRequest, status: string) => {
      const t0 = started.get(request);
      if (t0 === undefined) return;
      started.delete(request);
      const endpoint = endpointOf(request);
      this.klaviyoRequests.inc({ endpoint, status });
      this.klaviyoSeconds.observe({ endpoint, status }, Number(process.hrtime.bigint() - t0) / 1e9);
      if (status === '429') this.klaviyoThrottled.inc({ endpoint });
    };
    const onFinish = (m: unknown) => {
      const { request, response } = m as { request: ClientRequest; response: IncomingMessage };
      done(request, String(response.statusCode ?? 0));
    };
    const onError = (m: unknown) => done((m as { request: ClientRequest }).request, 'error');
    dc.subscribe('http.client.request.start', onStart);
    dc.subscribe('http.client.response.finish', onFinish);
    dc.subscribe('http.client.request.error', onError);
    this.unsubscribe = () => {
      dc.unsubscribe('http.client.request.start', onStart);
      dc.unsubscribe('http.client.response.finish', onFinish);
      dc.unsubscribe('http.client.request.error', onError);
    };
  }

  /** Stops watching HTTP requests. */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** `http://host:port/metrics`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the registry at `/metrics` (Prometheus text format) on `host:port` (port 0 = any free port).
 * @throws Error naming the port when it cannot be bound.
 */
export function serveMetrics(metrics: WorkerMetrics, port: number, host = '0.0.0.0'): Promise<MetricsServer> {
  const server: Server = createServer(async (req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.statusCode = 404;
      res.end('dwh-import worker: metrics at /metrics\n');
      return;
    }
    try {
      const body = await metrics.registry.metrics();
      res.setHeader('content-type', metrics.registry.contentType);
      res.end(body);
    } catch (e) {
      res.statusCode = 500;
      res.end(String((e as Error).message));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot serve metrics on ${host}:${port}: ${(e as Error).message}`)));
    server.listen(port, host, () => {
      const bound = (server.address() as { port: number }).port;
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      resolve({
        url: `http://${shown}:${bound}/metrics`,
        port: bound,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

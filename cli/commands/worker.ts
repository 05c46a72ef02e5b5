/**
 * `dwh-import worker`: runs a worker until SIGINT/SIGTERM. Logs are JSON lines on stdout (ours and
 * Temporal's, secrets scrubbed); Prometheus metrics at http://<metrics-host>:<metrics-port>/metrics.
 */
import type { Command } from 'commander';
import { Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { describeTemporal } from '../../config/env.ts';
import { loadConnectionFile } from '../../config/load.ts';
import type { ConnectionConfig } from '../../config/types.ts';
import { TemporalJsonLogger, createJsonLogger, secretValues } from '../../observability/logging.ts';
import { WorkerMetrics, serveMetrics } from '../../observability/metrics.ts';
import { createWorker, limitHeapGrowth } from '../../worker.ts';
import { deploymentFrom, temporalFrom, withDeploymentOptions, withTemporalOptions } from '../context.ts';

/** Environment variables a connection names for its secrets (their values are scrubbed from logs). */
function secretVarsOf(c: ConnectionConfig): string[] {
  return c.type === 'snowflake' ? [c.auth.password_env, c.auth.private_key_passphrase_env].filter((v): v is string => !!v) : [];
}

export function register(program: Command): void {
  withDeploymentOptions(
    withTemporalOptions(
      program
        .command('worker')
        .description('run a worker: executes sync runs (needs KLAVIYO_API_KEY; KLAVIYO_BASE_URL for a local API)')
        .option('--klaviyo-url <url>', 'Klaviyo API base URL (env KLAVIYO_BASE_URL)')
        .option('--no-rate-limit', 'send unpaced (only for a local API with its limits off)')
        .option('--klaviyo-client <client>', 'http (Node\'s own client, default) or sdk (the official klaviyo-api SDK: same requests, ~90 MB more memory) (env KLAVIYO_CLIENT)')
        .option('--metrics-port <port>', 'Prometheus metrics port, 0 = any free port (env DWH_IMPORT_METRICS_PORT, default 9464)')
        .option('--metrics-host <ip>', 'interface of the metrics endpoint (env DWH_IMPORT_METRICS_HOST, default 0.0.0.0)')
        .option('--no-metrics', 'no metrics endpoint')
        .option('--temporal-metrics-port <port>', "also expose the Temporal SDK's own worker metrics (task slots, latencies) on this port")
        .option('--log-level <level>', 'trace, debug, info, warn or error (env DWH_IMPORT_LOG_LEVEL, default info)')
        .option(
          '--heap-growth <percent>',
          "how far the JS heap may grow past its live data before a full garbage collection, in percent (env DWH_IMPORT_HEAP_GROWTH, default 50; 0 = V8's own heuristic, up to 300)",
        ),
    ),
  ).action(async (opts) => {
    const heapGrowth = opts.heapGrowth ?? process.env.DWH_IMPORT_HEAP_GROWTH ?? '50';
    if (!/^\d+$/.test(String(heapGrowth))) throw new Error(`--heap-growth must be a whole number of percent, not "${heapGrowth}"`);
    limitHeapGrowth(Number(heapGrowth));
    const t = temporalFrom(opts);
    const d = deploymentFrom(opts);
    const connection = loadConnectionFile(d.connectionFile);
    const log = createJsonLogger({
      level: opts.logLevel ?? process.env.DWH_IMPORT_LOG_LEVEL ?? 'info',
      secrets: secretValues(process.env, secretVarsOf(connection)),
    });
    if (!d.klaviyoApiKey) throw new Error('KLAVIYO_API_KEY is not set: the worker needs a Klaviyo private API key (pk_...)');
    const sdkPort = opts.temporalMetricsPort ? Number(opts.temporalMetricsPort) : undefined;
    Runtime.install({
      logger: new TemporalJsonLogger(log.child({ source: 'temporal' })),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }), forward: {} },
        ...(sdkPort !== undefined ? { metrics: { prometheus: { bindAddress: `0.0.0.0:${sdkPort}` } } } : {}),
      },
    });
    const metrics = opts.metrics === false ? undefined : new WorkerMetrics();
    const baseUrl = opts.klaviyoUrl ?? d.klaviyoBaseUrl;
    const client = opts.klaviyoClient ?? process.env.KLAVIYO_CLIENT ?? 'http';
    if (client !== 'http' && client !== 'sdk') throw new Error(`--klaviyo-client must be http or sdk, not "${client}"`);
    // The workflow bundle is built once per source version in a child process and cached (worker.ts).
    const w = await createWorker({
      pageLog: log.child({ source: 'activity' }),
      temporal: t,
      connection,
      statePath: d.statePath,
      klaviyo: { apiKey: d.klaviyoApiKey, baseUrl, client },
      rateLimits: opts.rateLimit === false ? null : undefined,
      metrics,
    });
    const port = Number(opts.metricsPort ?? process.env.DWH_IMPORT_METRICS_PORT ?? 9464);
    const server = metrics ? await serveMetrics(metrics, port, opts.metricsHost ?? process.env.DWH_IMPORT_METRICS_HOST ?? '0.0.0.0') : undefined;
    log.info(
      {
        temporal: describeTemporal(t),
        namespace: t.namespace,
        taskQueue: t.taskQueue,
        warehouse: connection.type,
        stateStore: d.statePath,
        klaviyo: baseUrl,
        rateLimited: opts.rateLimit !== false,
        heapGrowthPercent: Number(heapGrowth) || null,
        metrics: server?.url ?? null,
        temporalMetrics: sdkPort !== undefined ? `http://127.0.0.1:${sdkPort}/metrics` : null,
      },
      'worker started',
    );
    try {
      await w.worker.run();
    } finally {
      await server?.close();
      await w.close();
      log.info({ taskQueue: t.taskQueue }, 'worker stopped');
    }
  });
}

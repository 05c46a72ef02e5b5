/**
 * Helpers of the operations tests: the CLI as a real subprocess, a dedicated namespace per test file
 * (the shared dev server's `default` namespace holds other files' schedules), and a worker in it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { ConnectionConfig } from '../../config/types.ts';
import { temporalSettings, type TemporalSettings } from '../../config/env.ts';
import type { RateLimits } from '../../loading/rate-limiter.ts';
import type { WorkerMetrics } from '../../observability/metrics.ts';
import { createWorker, type RunningWorker } from '../../worker.ts';
import { workflowBundle } from './stack.ts';

export const BIN = fileURLToPath(new URL('../../bin/dwh-import.js', import.meta.url));
export const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** What a CLI run printed. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node bin/dwh-import.js ...args` with `env` added to a clean environment (no TEMPORAL_* or
 * DWH_IMPORT_* from the outside, and no user TOML profile), in `cwd`.
 */
export function runCli(args: string[], env: Record<string, string>, cwd = REPO, timeoutMs = 110_000): Promise<CliResult> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(TEMPORAL_|DWH_IMPORT_|KLAVIYO_)/.test(k)) base[k] = v;
  }
  base.TEMPORAL_CONFIG_FILE = '/nonexistent/temporal.toml';
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Registers a fresh namespace (unique name) on the dev server and returns its name. */
export async function createNamespace(address: string, prefix = 'dwh-test'): Promise<string> {
  const namespace = `${prefix}-${randomBytes(4).toString('hex')}`;
  const c = await Connection.connect({ address });
  try {
    await c.workflowService.registerNamespace({ namespace, // protobufjs takes a plain number for its Long seconds field.
    workflowExecutionRetentionPeriod: { seconds: 86_400 as never } });
  } finally {
    await c.close();
  }
  return namespace;
}

let runtimeInstalled = false;

/** A worker on its own task queue in `namespace`, and a client of that namespace. */
export async function startNamespaceWorker(opts: {
  address: string;
  namespace: string;
  connection: ConnectionConfig;
  statePath: string;
  klaviyo: { apiKey: string; baseUrl: string };
  rateLimits?: RateLimits | null;
  metrics?: WorkerMetrics;
}): Promise<{ temporal: TemporalSettings; client: Client; worker: RunningWorker; stop(): Promise<void> }> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const temporal = temporalSettings({ address: opts.address, namespace: opts.namespace, taskQueue: `tq-${randomBytes(4).toString('hex')}` }, {});
  const worker = await createWorker({
    temporal,
    connection: opts.connection,
    statePath: opts.statePath,
    klaviyo: opts.klaviyo,
    rateLimits: opts.rateLimits,
    metrics: opts.metrics,
    workflowBundle: await workflowBundle(),
  });
  const running = worker.worker.run();
  const connection = await Connection.connect({ address: opts.address });
  const client = new Client({ connection, namespace: opts.namespace });
  return {
    temporal,
    client,
    worker,
    stop: async () => {
      worker.worker.shutdown();
      await running;
      await worker.close();
      await connection.close();
    },
  };
}

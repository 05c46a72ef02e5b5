/**
 * A real stack for end-to-end tests: the shared Temporal dev server, a worker on its own task queue,
 * the local Klaviyo-compatible API and a SQLite state store in a temporary folder.
 */
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { ConnectionConfig } from '../../config/types.ts';
import { startLocalKlaviyo, type LocalApiOptions, type LocalKlaviyo } from '../../local-api/server.ts';
import type { RateLimits } from '../../loading/rate-limiter.ts';
import { bundleWorkflows, createWorker, type RunningWorker } from '../../worker.ts';
import { temporalSettings, type TemporalSettings } from '../../config/env.ts';
import { tempDir } from './duckdb.ts';

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
let runtimeInstalled = false;

/** The workflow bundle, built once per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflows();
  return bundle;
}

export const TEST_API_KEY = 'pk_test_0123456789';

export interface Stack {
  dir: string;
  temporal: TemporalSettings;
  client: Client;
  api: LocalKlaviyo;
  worker: RunningWorker;
  statePath: string;
  stop(): Promise<void>;
}

/** Starts a worker (own task queue), the local API and a client against the shared dev server. */
export async function startStack(opts: {
  connection: ConnectionConfig;
  api?: LocalApiOptions;
  rateLimits?: RateLimits | null;
  dir?: string;
  /** A Temporal server other than the suite's shared one (e.g. one started with special dynamic config). */
  temporalAddress?: string;
}): Promise<Stack> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const dir = opts.dir ?? tempDir();
  const temporal = temporalSettings({ address: opts.temporalAddress ?? inject('temporalAddress'), namespace: 'default', taskQueue: `test-${randomUUID()}` });
  const api = await startLocalKlaviyo({ apiKeys: [TEST_API_KEY], ...opts.api });
  const statePath = join(dir, 'state.sqlite');
  const worker = await createWorker({
    temporal,
    connection: opts.connection,
    statePath,
    klaviyo: { apiKey: TEST_API_KEY, baseUrl: api.url },
    rateLimits: opts.rateLimits,
    workflowBundle: await workflowBundle(),
  });
  const running = worker.worker.run();
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace: temporal.namespace });
  return {
    dir,
    temporal,
    client,
    api,
    worker,
    statePath,
    stop: async () => {
      worker.worker.shutdown();
      await running;
      await worker.close();
      await connection.close();
      await api.close();
    },
  };
}

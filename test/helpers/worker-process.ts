/**
 * A worker as its own process, for crash tests (SIGKILL must hit a real process, not a promise).
 * Configured by environment: TEMPORAL_ADDRESS, DWH_IMPORT_TASK_QUEUE, DWH_IMPORT_STATE,
 * KLAVIYO_API_KEY, KLAVIYO_BASE_URL (the test's local API), DWH_IMPORT_TEST_DUCKDB (the warehouse
 * file) and DWH_IMPORT_TEST_BUNDLE (a prebuilt workflow bundle, so a restart takes about a second).
 * Prints `worker ready` once it polls. Sends unpaced (the local API's limits are off in these tests).
 */
import { readFileSync } from 'node:fs';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { temporalSettings } from '../../config/env.ts';
import { createWorker } from '../../worker.ts';

const env = process.env;
Runtime.install({ logger: new DefaultLogger('ERROR') });
const w = await createWorker({
  temporal: temporalSettings(),
  connection: { type: 'duckdb', path: env.DWH_IMPORT_TEST_DUCKDB! },
  statePath: env.DWH_IMPORT_STATE!,
  klaviyo: { apiKey: env.KLAVIYO_API_KEY!, baseUrl: env.KLAVIYO_BASE_URL! },
  rateLimits: null,
  workflowBundle: { code: readFileSync(env.DWH_IMPORT_TEST_BUNDLE!, 'utf8'), sourceMap: '' } as never,
});
const running = w.worker.run();
console.log('worker ready');
process.once('SIGTERM', () => w.worker.shutdown());
await running;
await w.close();

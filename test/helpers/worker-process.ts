/**
 * A worker as its own process, for crash tests (SIGKILL must hit a real process, not a promise).
 * Configured by environment: TEMPORAL_ADDRESS, DWH_IMPORT_TASK_QUEUE, DWH_IMPORT_STATE,
 * KLAVIYO_API_KEY, KLAVIYO_BASE_URL (the test's local API), DWH_IMPORT_TEST_DUCKDB (the warehouse
 * file) and DWH_IMPORT_TEST_BUNDLE (a prebuilt workflow bundle, so a restart takes about a second).
 * Prints `worker ready` once it polls. Sends unpaced (the local API's limits are off in these tests).
 *
 * It builds the worker as `worker.ts` does, with one difference: the sticky queue's schedule-to-start
 * timeout is 1 s instead of 10 s, so that the workflow task a killed worker held on its sticky queue
 * moves to the shared queue quickly (a test kills workers many times).
 */
import { readFileSync } from 'node:fs';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createSyncActivities } from '../../activities/sync.ts';
import { StateStore } from '../../activities/state/store.ts';
import { temporalConnectionOptions, temporalSettings } from '../../config/env.ts';

const env = process.env;
Runtime.install({ logger: new DefaultLogger('ERROR') });
const t = temporalSettings();
const connection = await NativeConnection.connect(temporalConnectionOptions(t));
const state = new StateStore(env.DWH_IMPORT_STATE!);
const worker = await Worker.create({
  connection,
  namespace: t.namespace,
  taskQueue: t.taskQueue,
  workflowBundle: { code: readFileSync(env.DWH_IMPORT_TEST_BUNDLE!, 'utf8') },
  activities: createSyncActivities({
    connection: { type: 'duckdb', path: env.DWH_IMPORT_TEST_DUCKDB! },
    state,
    klaviyo: { apiKey: env.KLAVIYO_API_KEY!, baseUrl: env.KLAVIYO_BASE_URL! },
    rateLimits: null,
  }),
  maxConcurrentActivityTaskExecutions: 4,
  stickyQueueScheduleToStartTimeout: '1s',
});
const running = worker.run();
console.log('worker ready');
process.once('SIGTERM', () => worker.shutdown());
await running;
state.close();
await connection.close();

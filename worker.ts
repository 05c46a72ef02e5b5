/**
 * The worker: runs the sync workflows and activities on a task queue. Start it with
 * `dwh-import worker` (or `node --import tsx worker.ts`); configuration comes from the environment
 * (see config/env.ts) and the connection file.
 */
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createSyncActivities } from './activities/sync.ts';
import { closeIdleReaders } from './activities/connect.ts';
import { StateStore } from './activities/state/store.ts';
import type { KlaviyoTarget } from './activities/klaviyo/sdk-sender.ts';
import type { ConnectionConfig } from './config/types.ts';
import { temporalConnectionOptions, type TemporalSettings } from './config/env.ts';
import { BULK_EVENTS_LIMITS, type RateLimits } from './loading/rate-limiter.ts';
import type { WorkerMetrics } from './observability/metrics.ts';
import { activityLogInterceptor } from './observability/logging.ts';
import type { Logger as Pino } from 'pino';
import type { Logger } from '@temporalio/common';

/** Everything a worker needs. */
export interface WorkerOptions {
  temporal: TemporalSettings;
  connection: ConnectionConfig;
  statePath: string;
  klaviyo: KlaviyoTarget;
  /** Default: Klaviyo's bulk limits. `null` sends unpaced (a local API with limits off). */
  rateLimits?: RateLimits | null;
  /** Pages processed at once by this worker (across syncs). Default 4. */
  maxConcurrentPages?: number;
  /** A prebuilt workflow bundle (tests build it once). */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** Prometheus metrics to record into (activity results and Klaviyo HTTP requests); serve them with `serveMetrics`. */
  metrics?: WorkerMetrics;
  /** JSON logger for one line per page (`page loaded` / `page failed`). */
  pageLog?: Pino;
}

/** Path of the workflow module, for bundling. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));

/** Bundles the workflow code once (a few seconds); pass the result to several workers. `logger` gets the bundler's messages (default: warnings to the console). */
export function bundleWorkflows(logger: Logger = new DefaultLogger('WARN')): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger });
}

/** A created worker and the resources to release after it stops. */
export interface RunningWorker {
  worker: Worker;
  state: StateStore;
  close(): Promise<void>;
}

/** Creates (does not run) a worker. Call `worker.run()` and later `worker.shutdown()`, then `close()`. */
export async function createWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const connection = await NativeConnection.connect(temporalConnectionOptions(opts.temporal));
  const state = new StateStore(opts.statePath);
  const activities = createSyncActivities({
    connection: opts.connection,
    state,
    klaviyo: opts.klaviyo,
    rateLimits: opts.rateLimits === undefined ? BULK_EVENTS_LIMITS : opts.rateLimits,
  });
  const worker = await Worker.create({
    connection,
    namespace: opts.temporal.namespace,
    taskQueue: opts.temporal.taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities,
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentPages ?? 4,
    interceptors: {
      activity: [...(opts.metrics ? [opts.metrics.activityInterceptor()] : []), ...(opts.pageLog ? [activityLogInterceptor(opts.pageLog)] : [])],
    },
  });
  opts.metrics?.watchKlaviyo(opts.klaviyo.baseUrl);
  return {
    worker,
    state,
    close: async () => {
      opts.metrics?.stop();
      state.close();
      await closeIdleReaders();
      await connection.close();
    },
  };
}

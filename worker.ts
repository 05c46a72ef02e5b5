/**
 * The worker: runs the sync workflows and activities on a task queue. Start it with
 * `dwh-import worker` (or `node --import tsx worker.ts`); configuration comes from the environment
 * (see config/env.ts) and the connection file.
 */
import { spawnSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './config/repo-root.ts';
import { cacheDir } from './devenv/temporal-cli.ts';
import { DefaultLogger, NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createSyncActivities } from './activities/sync.ts';
import { closeIdleReaders } from './activities/connect.ts';
import { StateStore } from './activities/state/store.ts';
import type { KlaviyoTarget } from './activities/klaviyo/target.ts';
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
export const WORKFLOWS_PATH = join(REPO_ROOT, 'workflows', 'index.ts');

/** Bundles the workflow code once (a few seconds); pass the result to several workers. `logger` gets the bundler's messages (default: warnings to the console). */
export function bundleWorkflows(logger: Logger = new DefaultLogger('WARN')): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger });
}

const REPO = REPO_ROOT;

/** Hash of every source file the workflow bundle can contain (our .ts files and the SDK version). */
function sourceHash(): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.') || ['node_modules', 'test', 'scripts', 'bench'].includes(e.name)) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) h.update(p.slice(REPO.length)).update(readFileSync(p));
    }
  };
  walk(REPO);
  h.update(JSON.parse(readFileSync(join(REPO, 'node_modules', '@temporalio', 'workflow', 'package.json'), 'utf8')).version);
  return h.digest('hex').slice(0, 20);
}

/**
 * The workflow bundle as a file, built once per source version into the cache folder
 * (`~/.cache/dwh-import/workflow-bundles/<hash>.js`). The build runs in a child process so the
 * bundler's few hundred MB never count in the worker's own memory.
 * @throws Error with the bundler's output when the build fails.
 */
export function workflowBundlePath(): string {
  const dir = join(cacheDir(), 'workflow-bundles');
  const file = join(dir, `${sourceHash()}.js`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'worker.ts'), '--write-bundle', tmp], { encoding: 'utf8', cwd: REPO });
  if (r.status !== 0) throw new Error(`bundling the workflow code failed:\n${r.stderr || r.stdout}`);
  renameSync(tmp, file);
  return file;
}

/**
 * Bounds how far V8 lets the JS heap grow past the data still live after a full garbage collection
 * before it collects again: `percent` = 50 allows 1.5 x the live data (V8's `--heap-growing-percent`).
 *
 * Why: a page streams through the worker (see `loadPage`), so the live data stays small (tens of MB),
 * but rows, events and request bodies in flight outlive the young generation and die in the old one.
 * Left to its own heuristic, V8 then lets the old generation grow to 4 x the live data between full
 * collections (measured: 55 MB live, collections at 220-240 MB: half of the worker's peak RSS was
 * garbage). A growth bound is not a cap: the heap still grows as far as live data needs, it is only
 * collected sooner, at the cost of more (short, mostly concurrent) full collections.
 * 0 leaves V8's heuristic in place. Process-wide; call once, before the worker starts.
 * @throws RangeError when percent is not between 0 and 300.
 */
export function limitHeapGrowth(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0 || percent > 300) throw new RangeError(`heap growth must be a whole percent between 0 and 300, not ${percent}`);
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
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
    workflowBundle: opts.workflowBundle ?? { codePath: workflowBundlePath() },
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

// `node --import tsx worker.ts --write-bundle <file>`: the child process of `workflowBundlePath`.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--write-bundle') {
  const bundle = await bundleWorkflows();
  writeFileSync(process.argv[3], bundle.code);
}

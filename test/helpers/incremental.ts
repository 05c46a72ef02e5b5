/**
 * Helpers for the incremental-reading tests: sync definitions from YAML text, starting the sync
 * workflow directly on a task queue, reading back what the local API stored, measuring a run's
 * history, and a worker in a separate process that a test can SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { parseSyncText } from '../../config/load.ts';
import type { SyncConfig } from '../../config/types.ts';
import type { LocalKlaviyo } from '../../local-api/server.ts';
import type { SyncRunResult, SyncWorkflowInput } from '../../workflows/index.ts';
import { TEST_API_KEY, workflowBundle } from './stack.ts';

/** A sync with every default filled in, from YAML text (validated as a real sync file). */
export function syncFromYaml(yaml: string): SyncConfig {
  return parseSyncText('test.yaml', yaml);
}

/** The YAML of a sync over `table` with columns id, email, placed_at, chg; `extra` is appended verbatim. */
export function basicSyncYaml(name: string, table: string, opts: { uniqueId?: boolean; options?: Record<string, string | number | boolean> } = {}): string {
  const options = Object.entries(opts.options ?? {})
    .map(([k, v]) => `  ${k}: ${typeof v === 'string' ? JSON.stringify(v) : v}`)
    .join('\n');
  return `
name: ${name}
source:
  table: ${table}
metric:
  name: Placed Order
mapping:
  event_timestamp: placed_at
  change_timestamp: chg
${opts.uniqueId === false ? '' : '  unique_id: id\n'}  profile:
    email: email
${options ? `options:\n${options}\n` : ''}`;
}

export type RunHandle = WorkflowHandleWithFirstExecutionRunId<(i: SyncWorkflowInput) => Promise<SyncRunResult>>;

/**
 * Starts `syncWorkflow` directly (not through a schedule) with a unique workflow id.
 * `workflowTaskTimeout` (default 10 s) is how long a workflow task held by a killed worker blocks the run.
 */
export async function startRun(
  client: Client,
  taskQueue: string,
  input: SyncWorkflowInput,
  opts: { workflowId?: string; workflowTaskTimeout?: string } = {},
): Promise<RunHandle> {
  return client.workflow.start<(i: SyncWorkflowInput) => Promise<SyncRunResult>>('syncWorkflow', {
    taskQueue,
    workflowId: opts.workflowId ?? `${input.sync.name}-${Math.random().toString(36).slice(2, 10)}`,
    args: [input],
    ...(opts.workflowTaskTimeout ? { workflowTaskTimeout: opts.workflowTaskTimeout } : {}),
  });
}

/** Runs `syncWorkflow` to its end and returns its result. */
export async function runSync(client: Client, taskQueue: string, input: SyncWorkflowInput): Promise<SyncRunResult> {
  return (await startRun(client, taskQueue, input)).result();
}

/** The unique_ids the local API stored for `metric`, with how often each appears (always 1 unless deduplication failed). */
export function storedIds(api: LocalKlaviyo, metric = 'Placed Order'): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of api.store.events) if (e.metric === metric) m.set(e.unique_id!, (m.get(e.unique_id!) ?? 0) + 1);
  return m;
}

/** Size of a workflow chain's history: events and payload bytes (all runs of the chain when `allRuns`). */
export async function historySize(client: Client, workflowId: string, runId?: string): Promise<{ events: number; payloadBytes: number; largestPayload: number }> {
  const h = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  let payloadBytes = 0;
  let largestPayload = 0;
  const walk = (v: unknown): void => {
    if (v instanceof Uint8Array) {
      payloadBytes += v.length;
      largestPayload = Math.max(largestPayload, v.length);
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(h.events);
  return { events: h.events?.length ?? 0, payloadBytes, largestPayload };
}

/** Every run id of a continue-as-new chain, first to last. */
export async function chainRunIds(client: Client, workflowId: string, firstRunId: string): Promise<string[]> {
  const ids = [firstRunId];
  for (;;) {
    const h = await client.workflow.getHandle(workflowId, ids[ids.length - 1]).fetchHistory();
    const last = h.events?.[h.events.length - 1];
    const next = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    if (!next) return ids;
    ids.push(next);
  }
}

const WORKER_SCRIPT = fileURLToPath(new URL('./worker-process.ts', import.meta.url));

/** A worker in its own process (so that SIGKILL is a real crash). */
export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves once the worker polls its task queue. */
  ready: Promise<void>;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
}

/** Writes the workflow bundle to a file once, so worker processes start without bundling. */
export async function bundleFile(dir: string): Promise<string> {
  const path = join(dir, 'workflow-bundle.js');
  writeFileSync(path, (await workflowBundle()).code);
  return path;
}

/** Starts `test/helpers/worker-process.ts` in a new Node process. */
export function spawnWorker(env: { address: string; taskQueue: string; duckdbPath: string; statePath: string; apiUrl: string; bundlePath: string }): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: 'default',
      DWH_IMPORT_TASK_QUEUE: env.taskQueue,
      DWH_IMPORT_TEST_DUCKDB: env.duckdbPath,
      DWH_IMPORT_STATE: env.statePath,
      KLAVIYO_API_KEY: TEST_API_KEY,
      KLAVIYO_BASE_URL: env.apiUrl,
      DWH_IMPORT_TEST_BUNDLE: env.bundlePath,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err = (err + String(d)).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      if (String(d).includes('worker ready')) resolve();
    });
    child.once('exit', (code, sig) => reject(new Error(`worker process exited (${code ?? sig}) before it was ready: ${err}`)));
  });
  ready.catch(() => undefined);
  return { child, ready, exited };
}

/**
 * `status`: what a data engineer asks about a sync. Its schedule (from Temporal), paused or not with
 * the note, the next run time, the run in progress, the last runs and their results (from their
 * workflow results, so no state store is needed for them), and the watermark (from the state store
 * when this machine can open it; otherwise the last run's result says where it ended).
 */
import { failureText } from './failure.ts';
import { existsSync } from 'node:fs';
import type { Client, ScheduleDescription } from '@temporalio/client';
import { StateStore } from '../activities/state/store.ts';
import type { Cursor } from '../incremental/cursor.ts';
import type { SyncRunResult } from '../workflows/index.ts';
import type { RunProgress } from '../workflows/index.ts';
import { SyncNotFoundError, managedSchedule } from './operate.ts';
import { isManaged, scheduleText, storedSync } from './schedules.ts';

/** One run of a sync as status shows it. Times are ISO 8601 UTC. */
export interface RunInfo {
  workflowId: string;
  /** First run id of the run (stable across continue-as-new). */
  runId: string;
  /** Temporal's status: RUNNING, COMPLETED, FAILED, TERMINATED, CANCELLED, TIMED_OUT, ... */
  status: string;
  startedAt: string;
  closedAt?: string;
  result?: SyncRunResult;
  /** For a failed run: the chain of error messages. */
  failure?: string;
  /** For a running run: its progress (when a worker answered the query). */
  progress?: RunProgress;
}

/** The status of one sync. */
export interface SyncStatus {
  sync: string;
  file?: string;
  summary?: string;
  schedule: string;
  taskQueue: string;
  paused: boolean;
  note?: string;
  /** Next scheduled run (absent while paused). */
  nextRunAt?: string;
  running?: RunInfo;
  /** The most recent finished run. */
  lastRun?: RunInfo;
  /** Totals over the last finished runs that returned a result. */
  recent: { runs: number; failed: number; rowsRead: number; eventsAccepted: number; rejected: Record<string, number> };
  /**
   * The committed watermark: from the state store (`source: 'state store'`), else the last completed
   * run's `watermarkAfter` (`source: 'last run'`), else null.
   */
  watermark: { cursor: Cursor | null; updatedAt?: string; source: 'state store' | 'last run' | 'unknown' };
}

function iso(d: Date | undefined): string | undefined {
  return d ? d.toISOString() : undefined;
}

async function runInfo(client: Client, workflowId: string, runId: string): Promise<RunInfo | undefined> {
  const h = client.workflow.getHandle(workflowId);
  let d;
  try {
    d = await h.describe();
  } catch {
    return undefined; // past retention
  }
  const info: RunInfo = { workflowId, runId, status: d.status.name, startedAt: d.startTime.toISOString(), closedAt: iso(d.closeTime) };
  if (d.status.name === 'COMPLETED') {
    try {
      info.result = (await h.result()) as SyncRunResult;
      info.startedAt = info.result.startedAt ?? info.startedAt;
    } catch {
      // result not readable: leave it out
    }
  } else if (d.status.name === 'RUNNING') {
    try {
      info.progress = await Promise.race([
        h.query<RunProgress>('progress'),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000)),
      ]);
    } catch {
      // no worker answered
    }
  } else {
    try {
      await h.result();
    } catch (e) {
      info.failure = failureText(e);
    }
  }
  return info;
}

/**
 * The status of one sync, from its described schedule.
 * @param state the state store, when this machine can open it.
 * @param recentRuns how many of the latest runs to read (Temporal keeps the last 10 per schedule).
 */
export async function statusOf(client: Client, d: ScheduleDescription, state: StateStore | undefined, recentRuns = 5): Promise<SyncStatus> {
  const sync = storedSync(d);
  const memo = (d.action.memo ?? {}) as Record<string, unknown>;
  const name = d.scheduleId;
  const actions = [...d.info.recentActions].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
  const runningIds = new Set(d.info.runningActions.map((a) => a.workflow.workflowId));
  const out: SyncStatus = {
    sync: name,
    file: typeof memo.file === 'string' ? memo.file : undefined,
    summary: typeof d.action.staticSummary === 'string' ? d.action.staticSummary : undefined,
    schedule: sync ? scheduleText(sync.schedule) : 'unknown',
    taskQueue: d.action.taskQueue,
    paused: d.state.paused,
    note: d.state.note || undefined,
    nextRunAt: d.state.paused ? undefined : iso(d.info.nextActionTimes[0]),
    recent: { runs: 0, failed: 0, rowsRead: 0, eventsAccepted: 0, rejected: {} },
    watermark: { cursor: null, source: 'unknown' },
  };
  const running = d.info.runningActions[0];
  if (running) out.running = await runInfo(client, running.workflow.workflowId, running.workflow.firstExecutionRunId);
  let counted = 0;
  for (const a of actions) {
    if (counted >= recentRuns) break;
    if (runningIds.has(a.action.workflow.workflowId)) continue;
    const r = await runInfo(client, a.action.workflow.workflowId, a.action.workflow.firstExecutionRunId);
    if (!r || r.status === 'RUNNING') continue;
    counted++;
    out.lastRun ??= r;
    if (r.result) {
      out.recent.runs++;
      out.recent.rowsRead += r.result.rowsRead;
      out.recent.eventsAccepted += r.result.eventsAccepted;
      for (const [k, v] of Object.entries(r.result.rejected)) out.recent.rejected[k] = (out.recent.rejected[k] ?? 0) + v;
    } else out.recent.failed++;
  }
  const stored = state?.getWatermark(name);
  if (state) out.watermark = { cursor: stored?.cursor ?? null, updatedAt: stored?.updatedAt, source: 'state store' };
  else {
    const last = actions.length ? out.lastRun?.result : undefined;
    if (last) out.watermark = { cursor: last.watermarkAfter, updatedAt: last.finishedAt, source: 'last run' };
  }
  return out;
}

/** Opens the state store when the file exists (status never creates one). */
export function openStateIfPresent(path: string): StateStore | undefined {
  return path === ':memory:' || !existsSync(path) ? undefined : new StateStore(path);
}

/** The status of one sync by name, or of every managed schedule in the namespace (sorted by name). */
export async function syncStatuses(client: Client, opts: { name?: string; state?: StateStore; recentRuns?: number }): Promise<SyncStatus[]> {
  if (opts.name) {
    const { description } = await managedSchedule(client, opts.name);
    return [await statusOf(client, description, opts.state, opts.recentRuns)];
  }
  const ids: string[] = [];
  for await (const s of client.schedule.list()) if (isManaged(s)) ids.push(s.scheduleId);
  ids.sort();
  // A few syncs at a time: each needs a describe plus one or two calls per recent run.
  const out: (SyncStatus | undefined)[] = new Array(ids.length);
  let next = 0;
  const lane = async () => {
    while (next < ids.length) {
      const i = next++;
      try {
        const { description } = await managedSchedule(client, ids[i]);
        out[i] = await statusOf(client, description, opts.state, opts.recentRuns);
      } catch (e) {
        if (!(e instanceof SyncNotFoundError)) throw e; // deleted between list and describe
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, ids.length) }, lane));
  return out.filter((s): s is SyncStatus => s !== undefined);
}

/**
 * Temporal Schedules for syncs: one schedule per sync, id = the sync's name, marked as managed by this
 * tool in its memo (so `apply --prune` never touches schedules it did not create).
 */
import { createHash } from 'node:crypto';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOptions,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import type { SyncConfig } from '../config/types.ts';
import { durationSeconds } from '../config/duration.ts';
import { EVENT_SYNC_NAME } from '../workflows/search-attributes.ts';
import type { SyncRunResult, SyncWorkflowInput } from '../workflows/index.ts';

/** Memo key marking schedules this tool manages. */
export const MANAGED_BY = 'dwh-import';

/** Stable hash of a sync definition (shown in the memo; lets `plan` detect changes cheaply). */
export function syncHash(sync: SyncConfig): string {
  return createHash('sha256').update(JSON.stringify(sync)).digest('hex').slice(0, 16);
}

/** One line for the Temporal UI: table, metric and schedule. */
export function syncSummary(sync: SyncConfig): string {
  const metric = sync.metric.name ? `"${sync.metric.name}"` : `metric from column ${sync.metric.column}`;
  const when = sync.schedule.cron ? `cron ${sync.schedule.cron} ${sync.schedule.timezone}` : `every ${sync.schedule.interval}`;
  return `${sync.source.table} -> Klaviyo ${metric}, ${when}`;
}

/** The full schedule options of a sync. */
export function scheduleOptions(sync: SyncConfig, taskQueue: string, file?: string): ScheduleOptions {
  const spec = sync.schedule.cron
    ? { cronExpressions: [sync.schedule.cron], timezone: sync.schedule.timezone }
    : { intervals: [{ every: `${durationSeconds(sync.schedule.interval!)}s` }], timezone: sync.schedule.timezone };
  const input: SyncWorkflowInput = { sync, mode: 'incremental' };
  return {
    scheduleId: sync.name,
    spec,
    action: {
      type: 'startWorkflow',
      workflowType: 'syncWorkflow',
      workflowId: sync.name,
      taskQueue,
      args: [input],
      typedSearchAttributes: [{ key: EVENT_SYNC_NAME, value: sync.name }],
      memo: { managedBy: MANAGED_BY, sync: sync.name },
      staticSummary: syncSummary(sync),
      staticDetails: `Sync **${sync.name}**${sync.description ? `: ${sync.description}` : ''}\n\n` +
        `- source: \`${sync.source.table}\`\n- change timestamp: \`${sync.mapping.change_timestamp}\`\n- page size: ${sync.options.page_size}, settle delay: ${sync.options.settle_delay}, lookback: ${sync.options.lookback}`,
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1h', pauseOnFailure: false },
    state: { paused: sync.schedule.paused, note: sync.schedule.paused ? 'paused in YAML' : undefined },
    memo: { managedBy: MANAGED_BY, sync: sync.name, configHash: syncHash(sync), ...(file ? { file } : {}) },
  };
}

/** Creates the schedule of a sync, or updates it in place (its runs and the watermark are untouched). */
export async function upsertSchedule(client: Client, sync: SyncConfig, taskQueue: string, file?: string): Promise<'created' | 'updated'> {
  const opts = scheduleOptions(sync, taskQueue, file);
  const handle = client.schedule.getHandle(sync.name);
  try {
    await handle.describe();
  } catch (e) {
    if (!(e instanceof ScheduleNotFoundError)) throw e;
    await client.schedule.create(opts);
    return 'created';
  }
  await handle.update((prev) => ({ ...prev, spec: opts.spec, action: opts.action, policies: opts.policies, state: { ...prev.state, paused: sync.schedule.paused } }) as never);
  return 'updated';
}

/**
 * Triggers one run now through the schedule (overlap SKIP: a running run is not doubled) and returns
 * the handle of the workflow it started.
 * @throws Error when no new run appears within `timeoutMs` (e.g. one is already running).
 */
export async function triggerRun(client: Client, syncName: string, timeoutMs = 15_000) {
  const handle: ScheduleHandle = client.schedule.getHandle(syncName);
  const before = await handle.describe();
  const inFlight = before.info.runningActions[0];
  if (inFlight) {
    // A scheduled run is already going (overlap SKIP would drop a trigger): follow that one.
    return client.workflow.getHandle<(i: SyncWorkflowInput) => Promise<SyncRunResult>>(inFlight.workflow.workflowId, undefined, {
      firstExecutionRunId: inFlight.workflow.firstExecutionRunId,
    });
  }
  const known = new Set(actionIds(before));
  await handle.trigger(ScheduleOverlapPolicy.SKIP);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const d = await handle.describe();
    const fresh = actions(d).find((a) => !known.has(`${a.workflowId}/${a.firstExecutionRunId}`));
    if (fresh) return client.workflow.getHandle<(i: SyncWorkflowInput) => Promise<SyncRunResult>>(fresh.workflowId, undefined, { firstExecutionRunId: fresh.firstExecutionRunId });
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the schedule of ${syncName} did not start a run (is one already running? overlap policy is SKIP)`);
}

function actions(d: ScheduleDescription): { workflowId: string; firstExecutionRunId: string }[] {
  const recent = d.info.recentActions.map((a) => a.action);
  return [...d.info.runningActions, ...recent].map((a) => ({ workflowId: a.workflow.workflowId, firstExecutionRunId: a.workflow.firstExecutionRunId }));
}

function actionIds(d: ScheduleDescription): string[] {
  return actions(d).map((a) => `${a.workflowId}/${a.firstExecutionRunId}`);
}

export type { WorkflowExecutionInfo };

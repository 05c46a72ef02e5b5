/**
 * Temporal Schedules for syncs: one schedule per sync, schedule id = the sync's name, the workflow id
 * of each run = the sync's name plus the time the schedule started it (Temporal appends it). A
 * schedule this tool created carries `managedBy: 'dwh-import'` in its (immutable) schedule memo, so
 * `apply --prune` never touches schedules it did not create.
 *
 * What the server holds for a sync, and what `plan` compares:
 * - the sync definition as the workflow receives it: `action.args[0].sync` (a field-level diff);
 * - the task queue, workflow type, overlap policy and catch-up window;
 * - the UI texts (static summary and details);
 * - in the action's memo: `configHash` (hash of the sync definition), `file` (the YAML it came from),
 *   `specDigest` (hash of the schedule spec as the server stored it at the last apply: a different
 *   spec on the server means someone edited the schedule outside git);
 * - the paused state (see `desiredState`).
 */
import { createHash } from 'node:crypto';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import { tieBreakerName, type SyncConfig } from '../config/types.ts';
import { durationSeconds } from '../config/duration.ts';
import { EVENT_SYNC_NAME } from '../workflows/search-attributes.ts';
import type { SyncRunResult, SyncWorkflowInput, syncWorkflow } from '../workflows/index.ts';

/** Memo value marking schedules this tool manages (schedule memo key `managedBy`). */
export const MANAGED_BY = 'dwh-import';

/** Name of the workflow every schedule starts. */
export const WORKFLOW_TYPE = 'syncWorkflow';

/** Catch-up window of every schedule (ms): runs missed during an outage shorter than this are taken late. */
export const CATCHUP_WINDOW_MS = 3_600_000;

/** JSON with object keys sorted, so equal values always give equal text (for hashes). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

function shortHash(v: unknown): string {
  return createHash('sha256').update(canonicalJson(v)).digest('hex').slice(0, 16);
}

/** Stable 16-hex-digit hash of a sync definition (key order does not matter). */
export function syncHash(sync: SyncConfig): string {
  return shortHash(sync);
}

/** Stable hash of a schedule spec as the server describes it (drift detection). */
export function specDigest(spec: ScheduleDescription['spec']): string {
  return shortHash(spec);
}

/** `cron "0 * * * *" UTC` or `every 15m`. */
export function scheduleText(s: SyncConfig['schedule']): string {
  return s.cron ? `cron "${s.cron}" ${s.timezone}` : `every ${s.interval}`;
}

/** One line for the Temporal UI: table, metric and schedule. */
export function syncSummary(sync: SyncConfig): string {
  const metric = sync.metric.name ? `"${sync.metric.name}"` : `metric from column ${sync.metric.column}`;
  return `${sync.source.table} -> Klaviyo ${metric}, ${scheduleText(sync.schedule)}`;
}

/** The static details shown on every run in the Temporal UI (markdown). No secret is part of a sync. */
export function syncDetails(sync: SyncConfig, file?: string): string {
  const ids = Object.entries(sync.mapping.profile)
    .map(([k, v]) => `${k} <- \`${v}\``)
    .join(', ');
  const o = sync.options;
  const lines = [
    `Sync **${sync.name}**${sync.description ? `: ${sync.description}` : ''}`,
    '',
    `- source: \`${sync.source.table}\`${file ? ` (defined in \`${file}\`)` : ''}`,
    `- metric: ${sync.metric.name ? `"${sync.metric.name}"` : `from column \`${sync.metric.column}\``}`,
    `- event time: \`${sync.mapping.event_timestamp}\`, change timestamp: \`${sync.mapping.change_timestamp}\`` +
      (tieBreakerName(sync) ? `, tie-break \`${tieBreakerName(sync)}\`` : ''),
    `- profile: ${ids}`,
    `- unique_id: ${sync.mapping.unique_id ? `\`${sync.mapping.unique_id}\`` : 'derived from the row (hash)'}`,
    `- schedule: ${scheduleText(sync.schedule)}`,
    `- page size ${o.page_size}, settle delay ${o.settle_delay}, lookback ${o.lookback}, timestamps without zone in ${o.timestamp_zone}` +
      (o.backfill ? ", Klaviyo's backfill flag on" : ''),
    '',
    'Managed by dwh-import: change the YAML and run `dwh-import apply`; edits made here are reverted by the next apply.',
  ];
  return lines.join('\n');
}

/** The schedule spec of a sync (cron or interval, in its time zone). */
export function scheduleSpec(sync: SyncConfig): ScheduleOptions['spec'] {
  return sync.schedule.cron
    ? { cronExpressions: [sync.schedule.cron], timezone: sync.schedule.timezone }
    : { intervals: [{ every: `${durationSeconds(sync.schedule.interval!)}s` }], timezone: sync.schedule.timezone };
}

/** The schedule's workflow action for a sync. `specDigestValue` is recorded in the action's memo. */
export function scheduleAction(sync: SyncConfig, taskQueue: string, file?: string, specDigestValue?: string): ScheduleOptionsStartWorkflowAction<typeof syncWorkflow> {
  const input: SyncWorkflowInput = { sync, mode: 'incremental' };
  return {
    type: 'startWorkflow',
    workflowType: WORKFLOW_TYPE,
    workflowId: sync.name,
    taskQueue,
    args: [input],
    typedSearchAttributes: [{ key: EVENT_SYNC_NAME, value: sync.name }],
    memo: {
      managedBy: MANAGED_BY,
      sync: sync.name,
      configHash: syncHash(sync),
      ...(file ? { file } : {}),
      ...(specDigestValue ? { specDigest: specDigestValue } : {}),
    },
    staticSummary: syncSummary(sync),
    staticDetails: syncDetails(sync, file),
  } as ScheduleOptionsStartWorkflowAction<typeof syncWorkflow>;
}

/** Overlap SKIP: a run still going when the next is due makes the schedule skip that one (never two runs of a sync at once). */
export const SCHEDULE_POLICIES = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: CATCHUP_WINDOW_MS, pauseOnFailure: false } as const;

/** Note set on a schedule paused because its YAML says `schedule.paused: true`. */
export function yamlPauseNote(file?: string): string {
  return `paused by dwh-import apply: schedule.paused is true in ${file ?? 'the sync file'}`;
}

/** Note set on a running schedule when created: shown under "Notes" on the schedule's page in the Temporal UI. */
export function managedNote(file?: string): string {
  return `managed by dwh-import${file ? ` from ${file}` : ''}: change the YAML and run dwh-import apply; pause with dwh-import pause`;
}

/** The full options to create the schedule of a sync. */
export function scheduleOptions(sync: SyncConfig, taskQueue: string, file?: string): ScheduleOptions {
  return {
    scheduleId: sync.name,
    spec: scheduleSpec(sync),
    action: scheduleAction(sync, taskQueue, file),
    policies: { ...SCHEDULE_POLICIES },
    state: { paused: sync.schedule.paused, note: sync.schedule.paused ? yamlPauseNote(file) : managedNote(file) },
    memo: { managedBy: MANAGED_BY, sync: sync.name },
  };
}

/** Whether a described schedule is managed by this tool. */
export function isManaged(d: { memo?: Record<string, unknown> }): boolean {
  return d.memo?.managedBy === MANAGED_BY;
}

/** The sync definition a schedule currently runs (from its action's arguments), or undefined. */
export function storedSync(d: ScheduleDescription): SyncConfig | undefined {
  const input = d.action.type === 'startWorkflow' ? (d.action.args?.[0] as SyncWorkflowInput | undefined) : undefined;
  return input && typeof input === 'object' && input.sync && typeof input.sync === 'object' ? input.sync : undefined;
}

/**
 * The paused state a schedule should have after an apply, given what the YAML says now and what the
 * server holds. The rule (documented in the README):
 * - `schedule.paused: true` in the YAML: paused, whatever an operator did (the declaration wins);
 * - `schedule.paused: false` (the default): an operator's pause (`dwh-import pause`, the UI) is kept;
 *   only a pause that came from the YAML (the previous apply had `paused: true`) is lifted.
 * @returns undefined when the state stays as it is.
 */
export function desiredState(
  sync: SyncConfig,
  current: { paused: boolean; note?: string },
  previous: SyncConfig | undefined,
  file?: string,
): { paused: boolean; note: string; reason: string } | undefined {
  if (sync.schedule.paused && !current.paused) return { paused: true, note: yamlPauseNote(file), reason: 'schedule.paused is true in the YAML' };
  if (!sync.schedule.paused && current.paused && previous?.schedule.paused === true) {
    return { paused: false, note: `resumed by dwh-import apply: schedule.paused is no longer true in ${file ?? 'the sync file'}`, reason: 'schedule.paused was removed from the YAML' };
  }
  return undefined;
}

/** Thrown when a sync's name is already used by a schedule this tool does not manage. */
export class UnmanagedScheduleError extends Error {
  constructor(readonly scheduleId: string) {
    super(
      `a schedule named "${scheduleId}" exists but was not created by dwh-import (its memo has no managedBy: dwh-import); ` +
        'dwh-import never changes it: rename the sync, or delete that schedule yourself',
    );
    this.name = 'UnmanagedScheduleError';
  }
}

async function recordSpecDigest(handle: ScheduleHandle, sync: SyncConfig, taskQueue: string, file?: string): Promise<void> {
  const d = await handle.describe();
  const digest = specDigest(d.spec);
  if (d.action.memo?.specDigest === digest) return;
  await handle.update((prev) => ({ ...prev, action: scheduleAction(sync, taskQueue, file, digest) }) as never);
}

/**
 * Creates the schedule of a sync, or updates it in place: its recent runs, its paused state (see
 * `desiredState`) and the sync's watermark (kept in the state store, keyed by sync name) survive.
 * @throws UnmanagedScheduleError when a schedule of that name exists but is not managed by this tool.
 */
export async function upsertSchedule(client: Client, sync: SyncConfig, taskQueue: string, file?: string): Promise<'created' | 'updated'> {
  const handle = client.schedule.getHandle(sync.name);
  let current: ScheduleDescription;
  try {
    current = await handle.describe();
  } catch (e) {
    if (!(e instanceof ScheduleNotFoundError)) throw e;
    await client.schedule.create(scheduleOptions(sync, taskQueue, file));
    await recordSpecDigest(handle, sync, taskQueue, file);
    return 'created';
  }
  if (!isManaged(current)) throw new UnmanagedScheduleError(sync.name);
  const previous = storedSync(current);
  await handle.update((prev) => {
    const next = desiredState(sync, prev.state, previous, file);
    return {
      ...prev,
      spec: scheduleSpec(sync),
      action: scheduleAction(sync, taskQueue, file),
      policies: { ...SCHEDULE_POLICIES },
      state: next ? { ...prev.state, paused: next.paused, note: next.note } : prev.state,
    } as never;
  });
  await recordSpecDigest(handle, sync, taskQueue, file);
  return 'updated';
}

/** Handle type of a sync run. */
export type SyncRunHandle = ReturnType<Client['workflow']['getHandle']> & { result(): Promise<SyncRunResult> };

/**
 * Triggers one run now through the schedule (overlap SKIP: a running run is not doubled) and returns
 * the handle of the workflow it started. When a run is already going, returns that run instead
 * (`followed` tells which).
 * @throws ScheduleNotFoundError when the sync has no schedule; Error when no new run appears within
 * `timeoutMs`.
 */
export async function triggerRun(client: Client, syncName: string, timeoutMs = 15_000) {
  return (await triggerOrFollow(client, syncName, timeoutMs)).handle;
}

/** As `triggerRun`, and gives the run's first run id and whether it was started now or was already running. */
export async function triggerOrFollow(client: Client, syncName: string, timeoutMs = 15_000) {
  const handle: ScheduleHandle = client.schedule.getHandle(syncName);
  const before = await handle.describe();
  const inFlight = before.info.runningActions[0];
  const wf = (workflowId: string, firstExecutionRunId: string) =>
    client.workflow.getHandle<(i: SyncWorkflowInput) => Promise<SyncRunResult>>(workflowId, undefined, { firstExecutionRunId });
  if (inFlight) {
    // A scheduled run is already going (overlap SKIP would drop a trigger): follow that one.
    return { handle: wf(inFlight.workflow.workflowId, inFlight.workflow.firstExecutionRunId), runId: inFlight.workflow.firstExecutionRunId, followed: true, paused: before.state.paused };
  }
  const known = new Set(actionIds(before));
  await handle.trigger(ScheduleOverlapPolicy.SKIP);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const d = await handle.describe();
    const fresh = actions(d).find((a) => !known.has(`${a.workflowId}/${a.firstExecutionRunId}`));
    if (fresh) return { handle: wf(fresh.workflowId, fresh.firstExecutionRunId), runId: fresh.firstExecutionRunId, followed: false, paused: before.state.paused };
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

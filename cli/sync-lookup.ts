/**
 * What `backfill` and `reset` need to know about a sync beyond its name: its definition as deployed
 * (the Temporal Schedule's workflow arguments, which is what the workers run) or, when it has no
 * schedule yet, as written in the syncs folder; the task queue its runs use; and which runs of it are
 * going on now.
 */
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { loadSyncs } from '../config/discover.ts';
import type { SyncConfig } from '../config/types.ts';
import type { SyncWorkflowInput } from '../workflows/index.ts';

/** A sync's definition and where it came from. */
export interface FoundSync {
  sync: SyncConfig;
  /** `schedule` (deployed with `apply`) or the YAML file it was read from. */
  source: string;
  /** Task queue of the schedule's runs, when it has a schedule. */
  taskQueue?: string;
}

/**
 * Finds the sync named `name`: the applied schedule's definition first, else the syncs folder.
 * @throws Error naming both places when neither has it.
 */
export async function findSync(client: Client, name: string, syncsDir: string): Promise<FoundSync> {
  try {
    const d = await client.schedule.getHandle(name).describe();
    const input = d.action.args?.[0] as SyncWorkflowInput | undefined;
    if (d.action.workflowType === 'syncWorkflow' && input?.sync?.name === name) return { sync: input.sync, source: 'schedule', taskQueue: d.action.taskQueue };
  } catch (e) {
    if (!(e instanceof ScheduleNotFoundError)) throw e;
  }
  let found;
  try {
    found = loadSyncs([syncsDir]).find((s) => s.sync.name === name);
  } catch (e) {
    throw new Error(`sync "${name}" has no schedule, and the sync files in ${syncsDir} do not load:\n${(e as Error).message}`);
  }
  if (!found) throw new Error(`no sync named "${name}": no Temporal Schedule with that id and no such sync in ${syncsDir}`);
  return { sync: found.sync, source: found.file };
}

/** A run going on now. */
export interface RunningRun {
  workflowId: string;
  runId?: string;
  kind: 'incremental' | 'backfill';
}

/** Whether a workflow id is a backfill's (`<sync>@backfill:<range>`, see `backfillWorkflowId`). */
export function isBackfillId(workflowId: string): boolean {
  return workflowId.includes('@backfill:');
}

/**
 * Runs of the sync that are going on now: the schedule's running action (strongly consistent) and
 * any run the visibility store lists with the sync's search attribute (started by hand, backfills).
 */
export async function runningRuns(client: Client, name: string): Promise<RunningRun[]> {
  const out = new Map<string, RunningRun>();
  try {
    const d = await client.schedule.getHandle(name).describe();
    for (const a of d.info.runningActions) {
      out.set(a.workflow.workflowId, { workflowId: a.workflow.workflowId, kind: 'incremental' });
    }
  } catch (e) {
    if (!(e instanceof ScheduleNotFoundError)) throw e;
  }
  const query = `EventSyncName = "${name.replace(/"/g, '')}" AND ExecutionStatus = "Running"`;
  for await (const w of client.workflow.list({ query })) {
    out.set(w.workflowId, { workflowId: w.workflowId, runId: w.runId, kind: isBackfillId(w.workflowId) ? 'backfill' : 'incremental' });
  }
  return [...out.values()];
}

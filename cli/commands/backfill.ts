/**
 * `dwh-import backfill <sync> [--from <time>] [--to <time>]`: loads the sync's rows whose *event time*
 * lies in a range, as a separate run with its own progress, without touching the incremental watermark.
 */
import type { Command } from 'commander';
import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { StateStore } from '../../activities/state/store.ts';
import { userTimeLiteral } from '../../incremental/bounds.ts';
import { compareTs, cursorText } from '../../incremental/cursor.ts';
import { connectTemporal } from '../../config/env.ts';
import { EVENT_SYNC_NAME } from '../../workflows/search-attributes.ts';
import { stateKeyOf, type RunProgress, type SyncRunResult, type SyncWorkflowInput } from '../../workflows/index.ts';
import { formatRun, num } from '../format.ts';
import { deploymentFrom, temporalFrom, withDeploymentOptions, withTemporalOptions } from '../context.ts';
import { findSync } from '../sync-lookup.ts';

const HELP = `
What is loaded
  Every row of the sync's source whose event time (mapping.event_timestamp) is at or after --from and
  before --to, mapped exactly as scheduled runs map it. Either end may be left out (from the first row /
  up to now). Times without an offset are read in the sync's options.timestamp_zone (default UTC);
  a date alone means midnight there; on a DATE event column a time stands for its day.
  Rows are read in change-timestamp order up to now minus the settle delay, fixed when the backfill
  starts; rows whose change timestamp is NULL are rejected and counted, as in scheduled runs.

Progress and the incremental watermark
  A backfill keeps its own watermark in the state store under "<sync>@backfill:<from>..<to>". Running
  the same command again resumes from it (or finds nothing left when it completed); --restart starts
  over. The sync's own watermark is never read or moved: scheduled runs go on as before, and rows both
  load are kept once by Klaviyo (first event of a unique_id wins).

Flows
  Events carry Klaviyo's "backfill": true, so historical events do not trigger flows. Pass
  --no-backfill-flag to send them as live events (they then trigger flows like new ones).

Examples
  dwh-import backfill orders-placed --from 2024-01-01 --to 2024-07-01 --wait
  dwh-import backfill orders-placed --to 2025-01-01T00:00:00Z --no-backfill-flag
`;

/** Workflow id of a backfill: the same as its state key, so one backfill of a range runs at a time. */
export function backfillWorkflowId(sync: string, id: string): string {
  return `${sync}@backfill:${id}`;
}

export function register(program: Command): void {
  withDeploymentOptions(
    withTemporalOptions(
      program
        .command('backfill')
        .description("load a sync's rows whose event time is in a range, with Klaviyo's backfill flag, leaving the incremental watermark alone")
        .argument('<sync>', 'sync name')
        .option('--from <time>', 'first event time to load, inclusive (e.g. 2024-01-01 or 2024-01-01T00:00:00Z)')
        .option('--to <time>', 'event time to stop before, exclusive')
        .option('--no-backfill-flag', "send the events without Klaviyo's backfill flag (they trigger flows)")
        .option('--restart', "forget this range's progress and start it over")
        .option('--wait', 'follow the backfill until it ends, printing its progress')
        .addHelpText('after', HELP),
    ),
  ).action(async (name: string, opts) => {
    const t = temporalFrom(opts);
    const d = deploymentFrom(opts);
    const connection = await connectTemporal(t);
    try {
      const client = new Client({ connection, namespace: t.namespace });
      const found = await findSync(client, name, d.syncsDir);
      const { sync } = found;
      const zone = sync.options.timestamp_zone;
      // Check the times now (the worker converts them for the column's type).
      const from = opts.from?.trim() as string | undefined;
      const to = opts.to?.trim() as string | undefined;
      const check = (s: string | undefined, flag: string) => {
        if (s === undefined) return undefined;
        try {
          return userTimeLiteral(s, 'timestamp_tz', zone);
        } catch (e) {
          throw new Error(`${flag}: ${(e as Error).message}`);
        }
      };
      const f = check(from, '--from');
      const u = check(to, '--to');
      if (f && u && compareTs(f, u) >= 0) throw new Error(`--from ${from} is not before --to ${to}: the range is empty`);

      const id = `${from ?? 'start'}..${to ?? 'end'}`;
      const input: SyncWorkflowInput = { sync, mode: 'backfill', backfill: { id, from, to, flag: opts.backfillFlag !== false } };
      const stateKey = stateKeyOf(input);
      const workflowId = backfillWorkflowId(sync.name, id);
      const state = new StateStore(d.statePath);
      try {
        if (opts.restart) {
          const running = await client.workflow.getHandle(workflowId).describe().then(
            (x) => x.status.name === 'RUNNING',
            () => false,
          );
          if (running) throw new Error(`backfill ${id} of ${sync.name} is running (${workflowId}): wait for it to end before --restart`);
          state.resetWatermark(stateKey, null, `backfill --restart by ${process.env.USER ?? 'dwh-import'}`);
        }
        const wm = state.getWatermark(stateKey);
        console.log(
          `backfill of ${sync.name} (${found.source === 'schedule' ? 'as deployed' : found.source}): event time ${from ?? 'from the first row'} to ${to ? `before ${to}` : 'now'}` +
            `${from || to ? ` (${zone})` : ''}, ${input.backfill!.flag ? "with Klaviyo's backfill flag (no flows)" : 'WITHOUT the backfill flag (flows trigger)'}`,
        );
        console.log(wm ? `  resuming after ${cursorText(wm.cursor)} (its own progress, ${stateKey})` : `  progress kept under ${stateKey}`);
      } finally {
        state.close();
      }

      let handle;
      try {
        handle = await client.workflow.start<(i: SyncWorkflowInput) => Promise<SyncRunResult>>('syncWorkflow', {
          taskQueue: found.taskQueue ?? t.taskQueue,
          workflowId,
          args: [input],
          typedSearchAttributes: [{ key: EVENT_SYNC_NAME, value: sync.name }],
          memo: { managedBy: 'dwh-import', sync: sync.name, backfill: id },
          staticSummary: `backfill ${sync.name}: event time ${from ?? 'start'} to ${to ?? 'now'}${input.backfill!.flag ? '' : ' (no backfill flag)'}`,
        });
      } catch (e) {
        if (e instanceof WorkflowExecutionAlreadyStartedError) {
          throw new Error(`backfill ${id} of ${sync.name} is already running (workflow ${workflowId}); follow it in the Temporal UI or wait for it to end`);
        }
        throw e;
      }
      console.log(`  started workflow ${workflowId}`);
      if (!opts.wait) return;
      let result: SyncRunResult | undefined;
      const done = handle.result().then((r) => (result = r));
      let lastLine = '';
      while (!result) {
        await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
        if (result) break;
        const p: RunProgress | undefined = await handle.query<RunProgress>('progress').catch(() => undefined);
        if (!p) continue;
        const line = `  ${p.phase}: ${num(p.rowsRead)} rows read, ${num(p.eventsAccepted)} events accepted, watermark ${cursorText(p.watermark)}`;
        if (line !== lastLine) console.log(line);
        lastLine = line;
      }
      await done;
      console.log(`${sync.name} backfill ${id}\n${formatRun(result!)}`);
    } finally {
      await connection.close();
    }
  });
}

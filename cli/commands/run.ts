/**
 * `dwh-import run <sync> [--wait]`: triggers a run now through the sync's schedule (overlap SKIP, so
 * never two runs of a sync at once and the watermark chain stays intact; a run already going is
 * followed instead). With --wait, a live progress line (rows, events/s, rejects, the change timestamp
 * reached; no ETA, see ops/progress.ts for why) until the run ends, then its result. Exit code 1 when
 * the run fails.
 */
import type { Command } from 'commander';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { connectTemporal } from '../../config/env.ts';
import { managedSchedule } from '../../ops/operate.ts';
import { triggerOrFollow } from '../../ops/schedules.ts';
import { failureText } from '../../ops/failure.ts';
import { followRun } from '../follow.ts';
import { formatRun, runUrl } from '../format.ts';
import { temporalFrom, withTemporalOptions } from '../context.ts';

export function register(program: Command): void {
  withTemporalOptions(
    program
      .command('run')
      .description('trigger a run of a sync now (through its schedule, so the watermark chain is kept)')
      .argument('<sync>', 'sync name')
      .option('--wait', 'follow the run with a progress line until it ends, then print its result'),
  ).action(async (name: string, opts) => {
    const t = temporalFrom(opts);
    const connection = await connectTemporal(t);
    try {
      const client = new Client({ connection, namespace: t.namespace });
      const { description } = await managedSchedule(client, name);
      const { handle, runId, followed, paused } = await triggerOrFollow(client, name);
      const url = t.uiUrl ? runUrl(t.uiUrl, t.namespace, handle.workflowId, runId) : undefined;
      console.log(`${followed ? 'a run was already in progress; following' : 'started'} ${handle.workflowId}${paused ? ' (the schedule is paused; this run was started by hand)' : ''}`);
      if (url) console.log(`  ${url}`);
      if (!opts.wait) {
        console.log(`  follow it with: dwh-import status ${name}`);
        return;
      }
      const end = await followRun(handle, { waitingText: `waiting for a worker on task queue ${description.action.taskQueue} ...` });
      if (end.ok) {
        console.log(`${name}: run completed`);
        console.log(formatRun(end.r, { url }));
      } else {
        const e = end.e;
        console.log(`${name}: run ${e instanceof WorkflowFailedError ? 'failed' : 'could not be followed'}: ${failureText(e)}`);
        if (url) console.log(`  details: ${url}`);
        process.exitCode = 1;
      }
    } finally {
      await connection.close();
    }
  });
}

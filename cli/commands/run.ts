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
import { estimate, progressLine, type ProgressSample } from '../../ops/progress.ts';
import { triggerOrFollow } from '../../ops/schedules.ts';
import type { SyncRunResult } from '../../workflows/index.ts';
import type { RunProgress } from '../../workflows/index.ts';
import { formatRun, runUrl } from '../format.ts';
import { temporalFrom, withTemporalOptions } from '../context.ts';

/** The chain of causes of a failed run, outermost first, as one readable text. */
export function failureText(e: unknown): string {
  const msgs: string[] = [];
  let cur = e as { message?: string; cause?: unknown } | undefined;
  while (cur) {
    if (cur.message && !msgs.includes(cur.message)) msgs.push(cur.message);
    cur = cur.cause as typeof cur;
  }
  return msgs.join(': ');
}

function sleep(ms: number): Promise<'tick'> {
  return new Promise((r) => setTimeout(() => r('tick'), ms));
}

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
      const tty = process.stdout.isTTY;
      const samples: ProgressSample[] = [];
      const result = handle.result().then(
        (r: SyncRunResult) => ({ ok: true as const, r }),
        (e: unknown) => ({ ok: false as const, e }),
      );
      const started = Date.now();
      let lastPrinted = 0;
      let line = '';
      for (;;) {
        const done = await Promise.race([result, sleep(1000)]);
        if (done !== 'tick') break;
        try {
          const p = await Promise.race([handle.query<RunProgress>('progress'), sleep(5000).then(() => undefined)]);
          if (p) {
            samples.push({ at: Date.now(), progress: p });
            if (samples.length > 600) samples.splice(1, 1);
            line = progressLine(p, estimate(samples));
          }
        } catch {
          // not prepared yet, or no worker answered: keep waiting
        }
        if (!line && Date.now() - started > 10_000) line = `waiting for a worker on task queue ${description.action.taskQueue} ...`;
        if (!line) continue;
        if (tty) process.stdout.write(`\r\x1b[2K${line}`);
        else if (Date.now() - lastPrinted >= 10_000) {
          console.log(line);
          lastPrinted = Date.now();
        }
      }
      if (tty && line) process.stdout.write('\r\x1b[2K');
      const end = await result;
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

/**
 * Following a run until it ends with a live progress line (rows, events/s, rejects, the change
 * timestamp reached), for `dwh-import run --wait` and the demo. On a terminal the line is rewritten
 * in place; otherwise a line is printed every 10 s.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { estimate, progressLine, type ProgressSample } from '../ops/progress.ts';
import type { RunProgress, SyncRunResult } from '../workflows/index.ts';

/** How a followed run ended. */
export type RunEnd = { ok: true; r: SyncRunResult } | { ok: false; e: unknown };

function sleep(ms: number): Promise<'tick'> {
  return new Promise((r) => setTimeout(() => r('tick'), ms));
}

/**
 * Waits for the run behind `handle`, querying its `progress` every second.
 * @param waitingText what to show when no progress came for 10 s (e.g. no worker polls the task queue).
 * @param prefix put before each progress line (e.g. the sync's name).
 */
export async function followRun(handle: WorkflowHandle, opts: { waitingText: string; prefix?: string }): Promise<RunEnd> {
  const tty = process.stdout.isTTY;
  const samples: ProgressSample[] = [];
  const result: Promise<RunEnd> = handle.result().then(
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
        line = `${opts.prefix ?? ''}${progressLine(p, estimate(samples))}`;
      }
    } catch {
      // not prepared yet, or no worker answered: keep waiting
    }
    if (!line && Date.now() - started > 10_000) line = `${opts.prefix ?? ''}${opts.waitingText}`;
    if (!line) continue;
    if (tty) process.stdout.write(`\r\x1b[2K${line}`);
    else if (Date.now() - lastPrinted >= 10_000) {
      console.log(line);
      lastPrinted = Date.now();
    }
  }
  if (tty && line) process.stdout.write('\r\x1b[2K');
  return result;
}

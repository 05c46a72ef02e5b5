/**
 * Concurrent runs of one sync (issue 6): a second run can neither move the watermark backwards nor
 * skip ahead (compare-and-set in the state store); a reset during a run stops that run; the schedule's
 * overlap policy SKIP never starts a second scheduled run while one is going.
 */
import { join } from 'node:path';
import { ScheduleOverlapPolicy, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateStore } from '../activities/state/store.ts';
import { compareCursor } from '../incremental/cursor.ts';
import { upsertSchedule } from '../ops/schedules.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { basicSyncYaml, startRun, storedIds, syncFromYaml } from './helpers/incremental.ts';
import { startStack, type Stack } from './helpers/stack.ts';

const ROWS = 1500;
const dir = tempDir();
const db = join(dir, 'warehouse.duckdb');
let stack: Stack;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  await duckdbExec(
    db,
    `CREATE TABLE orders AS SELECT 'q-' || lpad(CAST(i AS VARCHAR), 5, '0') AS id, 'u' || (i % 61) || '@shop.test' AS email,
       TIMESTAMP '2025-01-01 00:00:00' + INTERVAL (i) SECOND AS placed_at, TIMESTAMP '2025-02-01 00:00:00' + INTERVAL (i) SECOND AS chg
     FROM range(${ROWS}) r(i)`,
  );
  // Each bulk request takes 150 ms: runs overlap for seconds.
  stack = await startStack({ connection: { type: 'duckdb', path: db }, api: { limits: { bulk: null, single: null }, faults: { slowMs: 150 } }, rateLimits: null, dir });
});

afterAll(async () => {
  await stack?.stop();
});

function failureOf(e: unknown): ApplicationFailure | undefined {
  let c: unknown = e;
  while (c && !(c instanceof ApplicationFailure)) c = (c as { cause?: unknown }).cause;
  return c as ApplicationFailure | undefined;
}

function store<T>(fn: (s: StateStore) => T): T {
  const s = new StateStore(stack.statePath);
  try {
    return fn(s);
  } finally {
    s.close();
  }
}

describe('concurrent runs of one sync', () => {
  it('the second run stops with WatermarkConflict; the watermark only moves forward, one page at a time, and every row arrives once', async () => {
    const sync = syncFromYaml(basicSyncYaml('twice', 'orders', { options: { page_size: 100, settle_delay: '1s' } }));
    const a = await startRun(stack.client, stack.temporal.taskQueue, { sync });
    const b = await startRun(stack.client, stack.temporal.taskQueue, { sync });
    const [ra, rb] = await Promise.allSettled([a.result(), b.result()]);
    const outcomes = [ra, rb];
    const failed = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
    const done = outcomes.filter((o) => o.status === 'fulfilled') as PromiseFulfilledResult<Awaited<ReturnType<typeof a.result>>>[];
    expect(failed).toHaveLength(1);
    expect(done).toHaveLength(1);
    expect(failed[0].reason).toBeInstanceOf(WorkflowFailedError);
    const f = failureOf(failed[0].reason)!;
    expect(f.type).toBe('WatermarkConflict');
    expect(f.message).toMatch(/was moved by another run/);

    const winner = done[0].value;
    expect(winner.watermarkAfter).toEqual({ ts: '2025-02-01T00:24:59.000000', key: 'q-01499' });
    const log = store((s) => s.watermarkLog('twice'));
    expect(log.every((m) => m.runId === winner.runId)).toBe(true); // the loser never committed
    expect(log[0].from).toBeNull();
    for (let i = 1; i < log.length; i++) {
      expect(log[i].from).toEqual(log[i - 1].to);
      expect(compareCursor(log[i - 1].to!, log[i].to!, 'text')).toBe(-1);
    }
    const ids = storedIds(stack.api);
    expect(ids.size).toBe(ROWS);
    expect([...ids.values()].every((n) => n === 1)).toBe(true);
  });

  it('a reset during a run wins: the run stops at its next commit and the reset watermark stays', async () => {
    const sync = syncFromYaml(basicSyncYaml('reset-mid-run', 'orders', { options: { page_size: 100, settle_delay: '1s' } }));
    const run = await startRun(stack.client, stack.temporal.taskQueue, { sync });
    for (let i = 0; i < 300 && !store((s) => s.getWatermark('reset-mid-run')); i++) await sleep(50);
    const to = { ts: '2025-02-01T00:00:00.000000', key: null, inclusive: true };
    store((s) => s.resetWatermark('reset-mid-run', to, 'reset by test'));
    const err = await run.result().then(
      () => undefined,
      (e) => e,
    );
    expect(failureOf(err)?.type).toBe('WatermarkConflict');
    expect(failureOf(err)?.message).toMatch(/moved by a reset/);
    expect(store((s) => s.getWatermark('reset-mid-run'))?.cursor).toEqual(to);
  });

  it('schedule overlap SKIP: triggers while a scheduled run is going start nothing', async () => {
    const sync = syncFromYaml(basicSyncYaml('overlap', 'orders', { options: { page_size: 100, settle_delay: '1s' } }).replace('options:', 'schedule:\n  interval: 1d\n  paused: true\noptions:'));
    await upsertSchedule(stack.client, sync, stack.temporal.taskQueue);
    const handle = stack.client.schedule.getHandle('overlap');
    try {
      await handle.trigger(ScheduleOverlapPolicy.SKIP);
      let running = 0;
      for (let i = 0; i < 100 && running === 0; i++) {
        running = (await handle.describe()).info.runningActions.length;
        if (!running) await sleep(100);
      }
      expect(running).toBe(1);
      await handle.trigger(ScheduleOverlapPolicy.SKIP);
      await handle.trigger(ScheduleOverlapPolicy.SKIP);
      await sleep(1000);
      const d = await handle.describe();
      expect(d.info.runningActions).toHaveLength(1);
      expect(d.info.numActionsSkippedOverlap).toBe(2);
      const only = d.info.runningActions[0].workflow;
      await stack.client.workflow.getHandle(only.workflowId, undefined, { firstExecutionRunId: only.firstExecutionRunId }).result();
      expect((await handle.describe()).info.recentActions).toHaveLength(1);
    } finally {
      await handle.delete();
    }
  });
});

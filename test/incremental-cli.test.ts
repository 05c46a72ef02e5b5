/**
 * `dwh-import backfill` and `dwh-import reset` as a data engineer runs them (the real CLI in a child
 * process) against the shared dev server, a worker, a DuckDB file and the local API.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateStore } from '../activities/state/store.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { basicSyncYaml, runSync, startRun, syncFromYaml } from './helpers/incremental.ts';
import { startStack, type Stack } from './helpers/stack.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = tempDir();
const db = join(dir, 'warehouse.duckdb');
let stack: Stack;
const yaml = basicSyncYaml('cli-orders', 'orders', { options: { page_size: 7, settle_delay: '1s' } });
const sync = syncFromYaml(yaml);

beforeAll(async () => {
  // 90 orders, one a day through Q1 2024 (event time), changed in that order in 2025.
  await duckdbExec(
    db,
    `CREATE TABLE orders AS SELECT 'b-' || lpad(CAST(i AS VARCHAR), 3, '0') AS id, 'u' || (i % 7) || '@shop.test' AS email,
       TIMESTAMP '2024-01-01 12:00:00' + INTERVAL (i) DAY AS placed_at, TIMESTAMP '2025-01-01 00:00:00' + INTERVAL (i) MINUTE AS chg
     FROM range(91) r(i)`,
  );
  mkdirSync(join(dir, 'syncs'));
  writeFileSync(join(dir, 'syncs', 'cli-orders.yaml'), yaml);
  writeFileSync(join(dir, 'connection.yaml'), `type: duckdb\npath: ${db}\n`);
  stack = await startStack({ connection: { type: 'duckdb', path: db }, api: { limits: { bulk: null, single: null } }, rateLimits: null, dir });
});

afterAll(async () => {
  await stack?.stop();
});

function cli(args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/dwh-import.js', ...args], {
      cwd: root,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: stack.temporal.address,
        DWH_IMPORT_TASK_QUEUE: stack.temporal.taskQueue,
        DWH_IMPORT_CONNECTION: join(dir, 'connection.yaml'),
        DWH_IMPORT_SYNCS: join(dir, 'syncs'),
        DWH_IMPORT_STATE: stack.statePath,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.stdin.end(input ?? '');
    child.on('exit', (code) => resolve({ code: code ?? 1, out, err }));
  });
}

function state<T>(fn: (s: StateStore) => T): T {
  const s = new StateStore(stack.statePath);
  try {
    return fn(s);
  } finally {
    s.close();
  }
}

const stored = (pred: (e: Stack['api']['store']['events'][number]) => boolean) =>
  stack.api.store.events
    .filter(pred)
    .map((e) => e.unique_id!)
    .sort();

describe('dwh-import reset and backfill', () => {
  it('reset --to moves the watermark forward after saying what it skips, only with --yes when stdin is not a terminal', async () => {
    const refused = await cli(['reset', 'cli-orders', '--to', '2026-01-01']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/stdin is not a terminal: pass --yes/);
    expect(state((s) => s.getWatermark('cli-orders'))).toBeNull();

    // A watermark past now would skip every row written until then: refused, even with --yes.
    const future = await cli(['reset', 'cli-orders', '--to', '2999-01-01', '--yes']);
    expect(future.code).toBe(1);
    expect(future.err).toMatch(/^error: --to 2999-01-01 is later than now minus the settle delay \(\d{4}-.*\): a watermark there would skip every row changed until then/);
    expect(state((s) => s.getWatermark('cli-orders'))).toBeNull();

    const r = await cli(['reset', 'cli-orders', '--to', '2026-01-01', '--yes']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/the next run will read 0 row\(s\) \(now: 91\)/);
    expect(state((s) => s.getWatermark('cli-orders'))?.cursor).toEqual({ ts: '2026-01-01T00:00:00.000000', key: null, inclusive: true });
    const run = await runSync(stack.client, stack.temporal.taskQueue, { sync });
    expect(run.rowsRead).toBe(0);
  });

  it('backfill loads exactly the event-time range, with the backfill flag, on its own watermark, and resumes instead of repeating', async () => {
    const r = await cli(['backfill', 'cli-orders', '--from', '2024-02-01', '--to', '2024-03-01', '--wait']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/with Klaviyo's backfill flag/);
    expect(r.out).toMatch(/rows read\s+29 in 5 page/); // February 2024 has 29 days
    const feb = stored((e) => e.time >= '2024-02-01' && e.time < '2024-03-01');
    expect(feb).toHaveLength(29);
    expect(stack.api.store.events.every((e) => e.backfill === true)).toBe(true);
    expect(stored(() => true)).toEqual(feb); // nothing outside the range
    // Its own progress; the incremental watermark is untouched.
    expect(state((s) => s.getWatermark('cli-orders@backfill:2024-02-01..2024-03-01'))?.cursor.key).toBe('b-059');
    expect(state((s) => s.getWatermark('cli-orders'))?.cursor).toEqual({ ts: '2026-01-01T00:00:00.000000', key: null, inclusive: true });

    const again = await cli(['backfill', 'cli-orders', '--from', '2024-02-01', '--to', '2024-03-01', '--wait']);
    expect(again.out).toMatch(/resuming after 2025-01-01T00:59:00.000000 \/ key b-059/);
    expect(again.out).toMatch(/no new rows since the watermark/);

    const march = await cli(['backfill', 'cli-orders', '--from', '2024-03-01T00:00:00+00:00', '--no-backfill-flag', '--wait']);
    expect(march.code).toBe(0);
    expect(march.out).toMatch(/WITHOUT the backfill flag/);
    const live = stack.api.store.events.filter((e) => e.backfill === false);
    expect(live.map((e) => e.time.slice(0, 7)).every((m) => m === '2024-03')).toBe(true);
    expect(live).toHaveLength(31);
  });

  it('backfill refuses an empty or unreadable range before starting anything', async () => {
    const empty = await cli(['backfill', 'cli-orders', '--from', '2024-03-01', '--to', '2024-02-01']);
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/--from 2024-03-01 is not before --to 2024-02-01/);
    const bad = await cli(['backfill', 'cli-orders', '--from', 'last tuesday']);
    expect(bad.err).toMatch(/--from: "last tuesday" is not a date or time/);
  });

  it('reset refuses while a run is in progress, and moving back re-imports what Klaviyo then deduplicates', async () => {
    stack.api.setFaults({ slowMs: 1500 }); // 13 pages of 7 rows: the run lasts about 20 s
    await state((s) => s.resetWatermark('cli-orders', null, 'test'));
    const running = await startRun(stack.client, stack.temporal.taskQueue, { sync });
    const deadline = Date.now() + 20_000;
    while (stack.api.store.counters.requests === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const refused = await cli(['reset', 'cli-orders', '--to', '2025-01-01T01:00:00Z', '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/a run of cli-orders is in progress \(cli-orders-/);
    stack.api.setFaults({});
    const first = await running.result();
    expect(first.rowsRead).toBe(91);

    const dupBefore = stack.api.store.counters.duplicate_events;
    const back = await cli(['reset', 'cli-orders', '--to', '2025-01-01T01:00:00Z', '--yes']);
    expect(back.code).toBe(0);
    expect(back.out).toMatch(/the next run will read 31 row\(s\) \(now: 0\)/);
    expect(back.out).toMatch(/moving back/);
    const rerun = await runSync(stack.client, stack.temporal.taskQueue, { sync });
    expect(rerun.rowsRead).toBe(31); // changed at or after 01:00 (minutes 60..90), 01:00 itself included
    expect(stack.api.store.counters.duplicate_events - dupBefore).toBe(31);
    const log = state((s) => s.watermarkLog('cli-orders'));
    expect(log.filter((m) => m.reason.startsWith('reset --to')).map((m) => m.to)).toEqual([
      { ts: '2026-01-01T00:00:00.000000', key: null, inclusive: true },
      { ts: '2025-01-01T01:00:00.000000', key: null, inclusive: true },
    ]);
  });
});

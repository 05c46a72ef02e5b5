/**
 * Incremental reads that lose nothing (issue 6), on the real Temporal dev server, a real DuckDB file
 * and the local Klaviyo-compatible API: equal change timestamps across pages, the settle window,
 * late rows with and without lookback, NULL change timestamps, zone-less timestamps in a non-UTC
 * zone, DATE change columns, and the size of a run's history.
 */
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateStore } from '../activities/state/store.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { basicSyncYaml, historySize, runSync, startRun, storedIds, syncFromYaml } from './helpers/incremental.ts';
import { startStack, type Stack } from './helpers/stack.ts';

const dir = tempDir();
const db = join(dir, 'warehouse.duckdb');
let stack: Stack;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  await duckdbExec(db, 'CREATE SCHEMA ev');
  stack = await startStack({ connection: { type: 'duckdb', path: db }, api: { limits: { bulk: null, single: null } }, rateLimits: null, dir });
});

afterAll(async () => {
  await stack?.stop();
});

function state<T>(fn: (s: StateStore) => T): T {
  const s = new StateStore(stack.statePath);
  try {
    return fn(s);
  } finally {
    s.close();
  }
}

const withMetric = (yaml: string, metric: string) => yaml.replace('name: Placed Order', `name: ${metric}`);

describe('equal change timestamps across page boundaries', () => {
  beforeAll(async () => {
    // 5,000 rows with one change timestamp, ids in random order so the key order is not the insert order.
    await duckdbExec(
      db,
      `CREATE TABLE ev.same_ts AS SELECT 'o-' || lpad(CAST(i AS VARCHAR), 5, '0') AS id,
         'p' || (i % 97) || '@shop.test' AS email, TIMESTAMP '2025-03-01 10:00:00' + INTERVAL (i) SECOND AS placed_at,
         TIMESTAMP '2025-03-02 00:00:00' AS chg, i AS n
       FROM range(5000) r(i) ORDER BY hash(i)`,
    );
  });

  it('keyed by unique_id: pages of 700 split the group by key and every row arrives exactly once', async () => {
    const sync = syncFromYaml(withMetric(basicSyncYaml('same-ts-keyed', 'ev.same_ts', { options: { page_size: 700, settle_delay: '1s' } }), 'Same Keyed'));
    const dupBefore = stack.api.store.counters.duplicate_events;
    const handle = await startRun(stack.client, stack.temporal.taskQueue, { sync });
    const r = await handle.result();
    expect(r.rowsRead).toBe(5000);
    expect(r.eventsAccepted).toBe(5000);
    expect(r.pages).toBe(8); // 7 full pages of 700 and one of 100 (the last page short: done)
    expect(r.watermarkAfter).toEqual({ ts: '2025-03-02T00:00:00.000000', key: 'o-04999' });
    const ids = storedIds(stack.api, 'Same Keyed');
    expect(ids.size).toBe(5000);
    expect([...ids.values()].every((n) => n === 1)).toBe(true);
    expect(stack.api.store.counters.duplicate_events - dupBefore).toBe(0); // nothing was even re-sent

    // Rows never pass through history: a few events per page and small payloads.
    const h = await historySize(stack.client, handle.workflowId);
    expect(h.events).toBeLessThanOrEqual(8 * 6 + 15);
    expect(h.largestPayload).toBeLessThan(8 * 1024);
    expect(h.payloadBytes).toBeLessThan(64 * 1024);

    const again = await runSync(stack.client, stack.temporal.taskQueue, { sync });
    expect(again.rowsRead).toBe(0);
    expect(again.watermarkAfter).toEqual(r.watermarkAfter);
  });

  it('without a tie-break key: the page grows to hold the whole group, every row arrives exactly once', async () => {
    const sync = syncFromYaml(
      withMetric(basicSyncYaml('same-ts-group', 'ev.same_ts', { uniqueId: false, options: { page_size: 700, settle_delay: '1s' } }), 'Same Group'),
    );
    const dupBefore = stack.api.store.counters.duplicate_events;
    const r = await runSync(stack.client, stack.temporal.taskQueue, { sync });
    expect(r.rowsRead).toBe(5000);
    expect(r.eventsAccepted).toBe(5000);
    // One page of 5,000 (a group of equal change timestamps is never split), then an empty page that
    // confirms nothing follows.
    expect(r.pages).toBe(2);
    expect(r.watermarkAfter).toEqual({ ts: '2025-03-02T00:00:00.000000', key: null });
    const ids = storedIds(stack.api, 'Same Group');
    expect(ids.size).toBe(5000); // derived unique_ids (hash of the row) are distinct per row
    expect(stack.api.store.counters.duplicate_events - dupBefore).toBe(0);
    const again = await runSync(stack.client, stack.temporal.taskQueue, { sync });
    expect(again.rowsRead).toBe(0);
  });
});

describe('settle window and late rows', () => {
  const on = syncFromYaml(withMetric(basicSyncYaml('late-on', 'ev.late', { options: { page_size: 2, settle_delay: '3s', lookback: '1h' } }), 'Late On'));
  const off = syncFromYaml(withMetric(basicSyncYaml('late-off', 'ev.late', { options: { page_size: 2, settle_delay: '3s', lookback: '0s' } }), 'Late Off'));

  it('rows inside the settle window wait for a later run; late rows behind the watermark arrive only with lookback', async () => {
    await duckdbExec(
      db,
      'CREATE TABLE ev.late (id VARCHAR, email VARCHAR, placed_at TIMESTAMP, chg TIMESTAMP)',
      `INSERT INTO ev.late VALUES
         ('r1', 'a@shop.test', TIMESTAMP '2025-01-01 10:00:00', CAST(current_timestamp AS TIMESTAMP) - INTERVAL 30 MINUTE),
         ('r2', 'b@shop.test', TIMESTAMP '2025-01-01 10:00:00', CAST(current_timestamp AS TIMESTAMP) - INTERVAL 20 MINUTE),
         ('s1', 'c@shop.test', TIMESTAMP '2025-01-01 10:00:00', CAST(current_timestamp AS TIMESTAMP))`,
    );
    const first = await Promise.all([runSync(stack.client, stack.temporal.taskQueue, { sync: on }), runSync(stack.client, stack.temporal.taskQueue, { sync: off })]);
    for (const [r, metric] of [
      [first[0], 'Late On'],
      [first[1], 'Late Off'],
    ] as const) {
      expect([...storedIds(stack.api, metric).keys()].sort()).toEqual(['r1', 'r2']); // s1 is inside the 3 s settle window
      expect(r.watermarkAfter?.key).toBe('r2');
    }

    // A transaction that stamped its row 25 minutes ago commits only now: behind both watermarks.
    await duckdbExec(db, `INSERT INTO ev.late VALUES ('r3', 'd@shop.test', TIMESTAMP '2025-01-01 10:00:00', CAST(current_timestamp AS TIMESTAMP) - INTERVAL 25 MINUTE)`);
    await sleep(3500); // s1 settles
    const dupBefore = stack.api.store.counters.duplicate_events;
    const [rOn, rOff] = await Promise.all([runSync(stack.client, stack.temporal.taskQueue, { sync: on }), runSync(stack.client, stack.temporal.taskQueue, { sync: off })]);

    // Lookback on: the window (r2 - 1h, r2] is re-read; r1 and r2 are in the ledger and not sent again,
    // r3 is sent as a late row; s1 comes in the main phase.
    expect([...storedIds(stack.api, 'Late On').keys()].sort()).toEqual(['r1', 'r2', 'r3', 's1']);
    expect(rOn).toMatchObject({ lookbackRows: 3, lateEvents: 1, alreadySent: 2, eventsAccepted: 2 });
    expect(rOn.watermarkAfter?.key).toBe('s1');
    // Lookback off: s1 (settled) arrives, r3 is behind the watermark and is never read. This is the
    // documented cost of lookback 0s: a row committed later than the settle delay after its change
    // timestamp is lost to incremental runs (a `reset` or a `backfill` brings it in).
    expect([...storedIds(stack.api, 'Late Off').keys()].sort()).toEqual(['r1', 'r2', 's1']);
    expect(rOff).toMatchObject({ lookbackRows: 0, lateEvents: 0, eventsAccepted: 1 });
    expect(stack.api.store.counters.duplicate_events - dupBefore).toBe(0); // the lookback re-sent nothing

    // A further run re-reads the window and sends nothing.
    const rOn3 = await runSync(stack.client, stack.temporal.taskQueue, { sync: on });
    expect(rOn3).toMatchObject({ lookbackRows: 4, lateEvents: 0, alreadySent: 4, eventsAccepted: 0, requests: 0 });
  });
});

describe('NULL change timestamps', () => {
  it('are rejected with a reason and counted every run, never silently skipped, and load once they get a timestamp', async () => {
    await duckdbExec(
      db,
      'CREATE TABLE ev.nulls (id VARCHAR, email VARCHAR, placed_at TIMESTAMP, chg TIMESTAMP)',
      `INSERT INTO ev.nulls VALUES
         ('n1', 'a@shop.test', TIMESTAMP '2025-01-01 10:00:00', NULL),
         ('n2', 'b@shop.test', TIMESTAMP '2025-01-01 10:00:00', TIMESTAMP '2025-01-02 00:00:00'),
         ('n3', 'c@shop.test', TIMESTAMP '2025-01-01 10:00:00', NULL)`,
    );
    const sync = syncFromYaml(withMetric(basicSyncYaml('nulls', 'ev.nulls', { options: { settle_delay: '1s' } }), 'Nulls'));
    const r = await runSync(stack.client, stack.temporal.taskQueue, { sync });
    expect(r).toMatchObject({ rowsRead: 1, eventsAccepted: 1, rejected: { null_change_timestamp: 2 }, rejectedTotal: 2 });
    expect([...storedIds(stack.api, 'Nulls').keys()]).toEqual(['n2']);
    const rejects = state((s) => s.listRejects('nulls'));
    expect(rejects.map((x) => [x.rowKey, x.reason, x.column]).sort()).toEqual([
      ['n1', 'null_change_timestamp', 'chg'],
      ['n3', 'null_change_timestamp', 'chg'],
    ]);
    expect(rejects[0].detail).toMatch(/change timestamp column "chg" is NULL/);
    expect(rejects[0].row).toMatchObject({ email: expect.stringMatching(/@shop\.test$/), chg: null });

    await duckdbExec(db, `UPDATE ev.nulls SET chg = TIMESTAMP '2025-01-03 00:00:00' WHERE id = 'n1'`);
    const r2 = await runSync(stack.client, stack.temporal.taskQueue, { sync });
    expect(r2).toMatchObject({ rowsRead: 1, eventsAccepted: 1, rejected: { null_change_timestamp: 1 } });
    expect([...storedIds(stack.api, 'Nulls').keys()].sort()).toEqual(['n1', 'n2']);
  });
});

describe('zone-less change timestamps under a non-UTC zone', () => {
  it('the settle bound is the wall clock of the configured zone, and event times are read in it', async () => {
    const zone = 'America/New_York';
    await duckdbExec(
      db,
      'CREATE TABLE ev.ny (id VARCHAR, email VARCHAR, placed_at TIMESTAMP, chg TIMESTAMP)',
      // Wall clocks of New York: `a` 30 min ago, `b` 2 min ago (inside the 10 min settle window);
      // `c` is 30 min ago in UTC wall clock, hours in New York's future.
      `INSERT INTO ev.ny VALUES
         ('a', 'a@shop.test', TIMESTAMP '2024-07-01 10:00:00', CAST(timezone('${zone}', current_timestamp) AS TIMESTAMP) - INTERVAL 30 MINUTE),
         ('b', 'b@shop.test', TIMESTAMP '2024-07-01 10:00:00', CAST(timezone('${zone}', current_timestamp) AS TIMESTAMP) - INTERVAL 2 MINUTE),
         ('c', 'c@shop.test', TIMESTAMP '2024-12-01 10:00:00', CAST(timezone('UTC', current_timestamp) AS TIMESTAMP) - INTERVAL 30 MINUTE)`,
    );
    const sync = syncFromYaml(withMetric(basicSyncYaml('ny', 'ev.ny', { options: { settle_delay: '10m', timestamp_zone: zone } }), 'NY'));
    const before = DateTime.now().setZone(zone).minus({ minutes: 10 });
    const r = await runSync(stack.client, stack.temporal.taskQueue, { sync });
    expect([...storedIds(stack.api, 'NY').keys()]).toEqual(['a']);
    expect(r.futureRows).toBe(1); // `c`, written in UTC wall clock: hours ahead of New York, so it waits (and is reported)
    const until = DateTime.fromISO(r.until, { zone });
    expect(Math.abs(until.diff(before).as('seconds'))).toBeLessThan(60); // New York wall clock minus 10 minutes
    const a = stack.api.store.events.find((e) => e.unique_id === 'a' && e.metric === 'NY')!;
    expect(a.time).toBe('2024-07-01T14:00:00.000Z'); // 10:00 EDT
  });
});

describe('DATE change column', () => {
  it('reads a day only once it is complete in the configured zone; DATE event times are midnight there', async () => {
    const zone = 'Pacific/Kiritimati'; // UTC+14: its "today" differs from UTC's for 14 hours a day
    const today = DateTime.now().setZone(zone).startOf('day');
    const d = (n: number) => today.minus({ days: n }).toISODate();
    await duckdbExec(
      db,
      'CREATE TABLE ev.daily (id VARCHAR, email VARCHAR, placed_at DATE, chg DATE)',
      `INSERT INTO ev.daily VALUES ('d1', 'a@shop.test', DATE '2024-02-29', DATE '${d(2)}'), ('d2', 'b@shop.test', DATE '2024-03-01', DATE '${d(1)}'), ('d3', 'c@shop.test', DATE '2024-03-02', DATE '${d(0)}')`,
    );
    const sync = syncFromYaml(withMetric(basicSyncYaml('daily', 'ev.daily', { options: { settle_delay: '0s', timestamp_zone: zone } }), 'Daily'));
    const r = await runSync(stack.client, stack.temporal.taskQueue, { sync });
    expect(r.until).toBe(d(1));
    expect([...storedIds(stack.api, 'Daily').keys()].sort()).toEqual(['d1', 'd2']); // today (d3) is not over yet
    expect(r.watermarkAfter).toEqual({ ts: d(1), key: 'd2' });
    const d1 = stack.api.store.events.find((e) => e.unique_id === 'd1' && e.metric === 'Daily')!;
    expect(d1.time).toBe('2024-02-28T10:00:00.000Z'); // midnight in UTC+14
  });
});

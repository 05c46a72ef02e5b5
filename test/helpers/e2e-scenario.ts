/**
 * The end-to-end sync scenario, run unchanged on every warehouse (test/e2e.test.ts on DuckDB,
 * test/snowflake-e2e.test.ts on Snowflake through snowflake-sdk and fakesnow): YAML syncs applied as
 * Temporal Schedules on the real dev server, read from the warehouse, loaded into the local
 * Klaviyo-compatible API over HTTP through the official SDK, watermark in SQLite. Asserts event by
 * event what arrived.
 *
 * Tables are declared once, neutrally (`TableSpec`); each warehouse renders its own DDL and inserts.
 * Column names are exact on both: on Snowflake, columns marked `unquoted` are created without quotes,
 * so Snowflake stores them upper case (`email` -> `EMAIL`) and the YAML's lower-case names must
 * resolve to them; the others are created quoted, keeping lower or mixed case.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionConfig } from '../../config/types.ts';
import { loadSyncFile } from '../../config/load.ts';
import { StateStore } from '../../activities/state/store.ts';
import { triggerRun, upsertSchedule } from '../../ops/schedules.ts';
import { tempDir } from './duckdb.ts';
import { startStack, type Stack } from './stack.ts';

/** Neutral column types of the scenario's tables. */
export type SpecType = 'text' | 'float' | 'int' | 'bigint' | 'decimal(10,2)' | 'bool' | 'json' | 'ntz' | 'tz';
export interface ColumnSpec {
  name: string;
  type: SpecType;
  /** Snowflake only: create the column unquoted (stored upper case). */
  unquoted?: boolean;
}
/** A cell: SQL-ready JS value; JSON cells are JSON text; timestamps `YYYY-MM-DD HH:MM:SS[.fff][+HH:MM]`. */
export type Cell = string | number | boolean | null;
export interface TableSpec {
  schema: string;
  table: string;
  columns: ColumnSpec[];
}

/** What a warehouse provides to run the scenario. */
export interface ScenarioWarehouse {
  /** e.g. `DuckDB`, `Snowflake` */
  label: string;
  /** Prepares the warehouse (a fresh database) and returns the connection the worker reads with. */
  start(): Promise<ConnectionConfig>;
  create(spec: TableSpec): Promise<void>;
  insert(spec: TableSpec, rows: Cell[][]): Promise<void>;
  /** Fractional digits of the reader's zone-less timestamp literals (DuckDB TIMESTAMP: 6, Snowflake TIMESTAMP_NTZ(9): 9). */
  ntzDigits: 6 | 9;
  stop(): Promise<void>;
}

export const ORDERS: TableSpec = {
  schema: 'events',
  table: 'orders',
  columns: [
    { name: 'order_id', type: 'text' },
    { name: 'email', type: 'text', unquoted: true },
    { name: 'customer_id', type: 'float', unquoted: true },
    { name: 'placed_at', type: 'ntz', unquoted: true },
    { name: 'updated_at', type: 'ntz', unquoted: true },
    { name: 'amount', type: 'decimal(10,2)', unquoted: true },
    { name: 'currency', type: 'text', unquoted: true },
    { name: 'sku', type: 'text' },
    { name: 'qty', type: 'int' },
    { name: 'gift', type: 'bool' },
    { name: 'meta', type: 'json' },
    { name: 'ship___city', type: 'text' },
    { name: 'note', type: 'text' },
  ],
};

/** Exact values: ids past 2^53 as unique_id, tie-break key and profile id; zoned event times; nested JSON; mixed-case names. */
export const CLICKS: TableSpec = {
  schema: 'events',
  table: 'clicks',
  columns: [
    { name: 'clickId', type: 'bigint' },
    { name: 'userId', type: 'bigint' },
    { name: 'clickedAt', type: 'tz' },
    { name: 'changed_at', type: 'ntz', unquoted: true },
    { name: 'price', type: 'decimal(10,2)', unquoted: true },
    { name: 'pageUrl', type: 'text' },
    { name: 'Attributes', type: 'json' },
    { name: 'localTime', type: 'ntz' },
  ],
};

const BIG = 9007199254740993n; // 2^53 + 1: the first integer a JS number cannot hold

/** Registers the scenario's tests for one warehouse. */
export function e2eScenario(w: ScenarioWarehouse): void {
  /** The reader's canonical literal of a zone-less `YYYY-MM-DDTHH:MM:SS[.fff]`. */
  const ntz = (wall: string) => {
    const [sec, frac = ''] = wall.split('.');
    return `${sec}.${frac.padEnd(w.ntzDigits, '0')}`;
  };
  const name = `e2e-orders-${randomBytes(3).toString('hex')}`;
  const clicksName = `e2e-clicks-${randomBytes(3).toString('hex')}`;
  const dir = tempDir();
  let stack: Stack;

  const yaml = `
name: ${name}
source:
  table: events.orders
metric:
  name: Placed Order
mapping:
  event_timestamp: placed_at
  change_timestamp: updated_at
  unique_id: order_id
  value: amount
  value_currency: currency
  profile:
    email: email
    external_id: customer_id
options:
  page_size: 2
  settle_delay: 1m
`;

  const clicksYaml = `
name: ${clicksName}
source:
  table: events.clicks
metric:
  name: Clicked Offer
mapping:
  event_timestamp: clickedAt
  change_timestamp: changed_at
  unique_id: clickId
  value: price
  profile:
    external_id: userId
options:
  page_size: 2
  settle_delay: 1m
`;

  beforeAll(async () => {
    const connection = await w.start();
    await w.create(ORDERS);
    await w.insert(ORDERS, [
      ['o-1', ' Ann@Example.org ', 17850.0, '2026-01-05 10:00:00', '2026-01-05 10:01:00', '19.90', 'gbp', 'MUG-1', 2, true, '{"color":"red"}', 'London', null],
      ['o-2', null, 13047.0, '2026-01-05 10:02:00.250', '2026-01-05 10:03:00', '5.00', 'EUR', 'PEN-9', 1, false, null, null, 'leave at door'],
      ['o-3', 'bob@example.org', null, '2026-01-05 10:02:30', '2026-01-05 10:03:00', '120.5', 'USD', 'BAG-2', 3, null, '[1,2]', 'Leeds', null],
      ['o-4', null, null, '2026-01-05 10:04:00', '2026-01-05 10:05:00', '1.00', 'GBP', 'X', 1, null, null, null, null],
    ]);
    await w.create(CLICKS);
    // three rows share one change timestamp and differ only in ids past 2^53, so keyed pages of 2 split
    // the group between ids a JS number would confuse.
    await w.insert(CLICKS, [
      [String(BIG), String(BIG + 10n), '2026-02-01 09:00:00+01:00', '2026-02-01 12:00:00', '19.90', '/offer/a', '{"plan":"pro","seats":3,"tags":["x","y"]}', '2026-02-01 09:00:00.125'],
      [String(BIG + 1n), String(BIG + 11n), '2026-02-01 09:30:00.5-05:00', '2026-02-01 12:00:00', '0.10', '/offer/b', '{"plan":"free"}', null],
      [String(BIG + 2n), '12', '2026-02-01 10:00:00Z', '2026-02-01 12:00:00', '1234567.89', '/offer/c', null, null],
      [String(BIG + 3n), String(BIG + 10n), '2026-02-01 11:00:00+00:00', '2026-02-01 12:30:00', null, '/offer/a', '[]', null],
    ]);
    writeFileSync(join(dir, `${name}.yaml`), yaml);
    writeFileSync(join(dir, `${clicksName}.yaml`), clicksYaml);
    stack = await startStack({ connection, dir });
    for (const n of [name, clicksName]) await upsertSchedule(stack.client, loadSyncFile(join(dir, `${n}.yaml`)), stack.temporal.taskQueue, join(dir, `${n}.yaml`));
  });

  afterAll(async () => {
    for (const n of [name, clicksName]) await stack?.client.schedule.getHandle(n).delete().catch(() => undefined);
    await stack?.stop();
    await w.stop();
  });

  function eventsByUniqueId() {
    const out = new Map<string, { event: (typeof stack.api.store.events)[number]; profile: unknown }>();
    for (const e of stack.api.store.events) {
      const p = stack.api.store.profiles.get(e.profile_id)!;
      const { id: _id, ...ids } = p;
      out.set(e.unique_id!, { event: e, profile: ids });
    }
    return out;
  }

  describe(`the main job end to end on ${w.label}`, () => {
    it('loads every valid row as one event, rejects the row without identifier, and commits the watermark', async () => {
      const run = await triggerRun(stack.client, name);
      const result = await run.result();

      expect(result.rowsRead).toBe(4);
      expect(result.eventsAccepted).toBe(3);
      expect(result.rejected).toEqual({ missing_identifier: 1 });
      expect(result.pages).toBe(3); // pages of 2 rows: [o-1, o-2+o-3 share 10:03:00 but are keyed], [o-4], []
      expect(result.watermarkBefore).toBeNull();
      expect(result.watermarkAfter).toEqual({ ts: ntz('2026-01-05T10:05:00'), key: 'o-4' });

      const got = eventsByUniqueId();
      expect([...got.keys()].sort()).toEqual(['o-1', 'o-2', 'o-3']);
      expect(got.get('o-1')).toEqual({
        event: expect.objectContaining({
          metric: 'Placed Order',
          time: '2026-01-05T10:00:00.000Z',
          unique_id: 'o-1',
          value: 19.9,
          value_currency: 'GBP',
          backfill: false,
          properties: { sku: 'MUG-1', qty: 2, gift: true, meta: { color: 'red' }, ship: { city: 'London' } },
        }),
        profile: { email: 'Ann@Example.org', external_id: '17850' },
      });
      expect(got.get('o-2')).toEqual({
        event: expect.objectContaining({
          metric: 'Placed Order',
          time: '2026-01-05T10:02:00.250Z',
          value: 5,
          value_currency: 'EUR',
          properties: { sku: 'PEN-9', qty: 1, gift: false, note: 'leave at door' },
        }),
        profile: { external_id: '13047' },
      });
      expect(got.get('o-3')).toEqual({
        event: expect.objectContaining({
          time: '2026-01-05T10:02:30.000Z',
          value: 120.5,
          value_currency: 'USD',
          properties: { sku: 'BAG-2', qty: 3, meta: [1, 2], ship: { city: 'Leeds' } },
        }),
        profile: { email: 'bob@example.org' },
      });

      const state = new StateStore(stack.statePath);
      expect(state.getWatermark(name)?.cursor).toEqual({ ts: ntz('2026-01-05T10:05:00'), key: 'o-4' });
      const rejects = state.listRejects(name);
      expect(rejects.map((r) => [r.reason, r.row?.order_id])).toEqual([['missing_identifier', 'o-4']]);
      state.close();
    });

    it('a second run loads only rows whose change timestamp moved past the watermark', async () => {
      await w.insert(ORDERS, [
        ['o-5', 'cy@example.org', null, '2026-01-06 08:00:00', '2026-01-06 08:00:01', '7.25', 'GBP', 'MUG-1', 1, null, null, null, null],
        ['o-6', 'dee@example.org', 99.0, '2026-01-06 09:00:00', '2026-01-06 09:00:01', null, null, 'PEN-9', 2, null, null, null, null],
      ]);
      const before = stack.api.store.counters.accepted_events;
      const result = await (await triggerRun(stack.client, name)).result();

      expect(result.rowsRead).toBe(2);
      expect(result.eventsAccepted).toBe(2);
      expect(result.rejectedTotal).toBe(0);
      expect(result.watermarkBefore).toEqual({ ts: ntz('2026-01-05T10:05:00'), key: 'o-4' });
      expect(result.watermarkAfter).toEqual({ ts: ntz('2026-01-06T09:00:01'), key: 'o-6' });
      expect(stack.api.store.counters.accepted_events - before).toBe(2);
      expect(stack.api.store.counters.duplicate_events).toBe(0);
      const got = eventsByUniqueId();
      expect([...got.keys()].sort()).toEqual(['o-1', 'o-2', 'o-3', 'o-5', 'o-6']);
      expect(got.get('o-6')).toEqual({
        event: expect.objectContaining({ time: '2026-01-06T09:00:00.000Z', properties: { sku: 'PEN-9', qty: 2 } }),
        profile: { email: 'dee@example.org', external_id: '99' },
      });
      expect(got.get('o-6')!.event.value).toBeUndefined();

      const third = await (await triggerRun(stack.client, name)).result();
      expect(third.rowsRead).toBe(0);
      expect(third.watermarkAfter).toEqual(result.watermarkAfter);
    });

    it('ids past 2^53, zoned event times, decimals and nested JSON arrive exactly; keyed pages split equal timestamps between such ids', async () => {
      const result = await (await triggerRun(stack.client, clicksName)).result();
      expect(result.rowsRead).toBe(4);
      expect(result.eventsAccepted).toBe(4);
      expect(result.rejectedTotal).toBe(0);
      // pages of 2: [BIG, BIG+1] end inside the 12:00:00 group, [BIG+2, BIG+3], []
      expect(result.pages).toBe(3);
      expect(result.watermarkAfter).toEqual({ ts: ntz('2026-02-01T12:30:00'), key: String(BIG + 3n) });

      const got = eventsByUniqueId();
      const id = (n: bigint) => String(BIG + n);
      expect([0n, 1n, 2n, 3n].map((n) => got.has(id(n)))).toEqual([true, true, true, true]);
      expect(stack.api.store.counters.duplicate_events).toBe(0);
      expect(got.get(id(0n))).toEqual({
        event: expect.objectContaining({
          metric: 'Clicked Offer',
          time: '2026-02-01T08:00:00.000Z',
          unique_id: '9007199254740993',
          value: 19.9,
          // localTime is zone-less: read in timestamp_zone (UTC) and sent as the instant (mapping/README.md).
          properties: { pageUrl: '/offer/a', Attributes: { plan: 'pro', seats: 3, tags: ['x', 'y'] }, localTime: '2026-02-01T09:00:00.125000Z' },
        }),
        profile: { external_id: '9007199254741003' },
      });
      expect(got.get(id(1n))).toEqual({
        event: expect.objectContaining({ time: '2026-02-01T14:30:00.500Z', value: 0.1, properties: { pageUrl: '/offer/b', Attributes: { plan: 'free' } } }),
        profile: { external_id: '9007199254741004' },
      });
      expect(got.get(id(2n))).toEqual({
        event: expect.objectContaining({ time: '2026-02-01T10:00:00.000Z', value: 1234567.89, properties: { pageUrl: '/offer/c' } }),
        profile: { external_id: '12' },
      });
      expect(got.get(id(3n))!.event).toEqual(expect.objectContaining({ time: '2026-02-01T11:00:00.000Z', properties: { pageUrl: '/offer/a', Attributes: [] } }));
      expect(got.get(id(3n))!.event.value).toBeUndefined();
      // the same user (an id past 2^53) is one profile
      expect(got.get(id(3n))!.event.profile_id).toBe(got.get(id(0n))!.event.profile_id);
    });
  });
}

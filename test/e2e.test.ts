/**
 * The main job end to end (issue 2): a YAML sync applied as a Temporal Schedule, run on the real dev
 * server, reading a real DuckDB file, loading into the local Klaviyo-compatible API over HTTP through
 * the official SDK, with the watermark in SQLite. Asserts event by event what arrived.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSyncFile } from '../config/load.ts';
import { StateStore } from '../activities/state/store.ts';
import { triggerRun, upsertSchedule } from '../ops/schedules.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { startStack, type Stack } from './helpers/stack.ts';

const name = `e2e-orders-${randomBytes(3).toString('hex')}`;
const dir = tempDir();
const dbPath = join(dir, 'warehouse.duckdb');
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

beforeAll(async () => {
  await duckdbExec(
    dbPath,
    'CREATE SCHEMA events',
    `CREATE TABLE events.orders (
       order_id VARCHAR, email VARCHAR, customer_id DOUBLE, placed_at TIMESTAMP, updated_at TIMESTAMP,
       amount DECIMAL(10, 2), currency VARCHAR, sku VARCHAR, qty INTEGER, gift BOOLEAN, meta JSON,
       ship___city VARCHAR, note VARCHAR)`,
    `INSERT INTO events.orders VALUES
       ('o-1', ' Ann@Example.org ', 17850.0, '2026-01-05 10:00:00', '2026-01-05 10:01:00', 19.90, 'gbp', 'MUG-1', 2, true, '{"color":"red"}', 'London', NULL),
       ('o-2', NULL, 13047.0, '2026-01-05 10:02:00.250', '2026-01-05 10:03:00', 5.00, 'EUR', 'PEN-9', 1, false, NULL, NULL, 'leave at door'),
       ('o-3', 'bob@example.org', NULL, '2026-01-05 10:02:30', '2026-01-05 10:03:00', 120.5, 'USD', 'BAG-2', 3, NULL, '[1,2]', 'Leeds', NULL),
       ('o-4', NULL, NULL, '2026-01-05 10:04:00', '2026-01-05 10:05:00', 1.00, 'GBP', 'X', 1, NULL, NULL, NULL, NULL)`,
  );
  const syncFile = join(dir, `${name}.yaml`);
  writeFileSync(syncFile, yaml);
  stack = await startStack({ connection: { type: 'duckdb', path: dbPath } });
  await upsertSchedule(stack.client, loadSyncFile(syncFile), stack.temporal.taskQueue, syncFile);
});

afterAll(async () => {
  await stack?.client.schedule.getHandle(name).delete().catch(() => undefined);
  await stack?.stop();
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

describe('the main job end to end', () => {
  it('loads every valid row as one event, rejects the row without identifier, and commits the watermark', async () => {
    const run = await triggerRun(stack.client, name);
    const result = await run.result();

    expect(result.rowsRead).toBe(4);
    expect(result.eventsAccepted).toBe(3);
    expect(result.rejected).toEqual({ missing_identifier: 1 });
    expect(result.pages).toBe(3); // pages of 2 rows: [o-1, o-2+o-3 share 10:03:00 but are keyed], [o-4], []
    expect(result.watermarkBefore).toBeNull();
    expect(result.watermarkAfter).toEqual({ ts: '2026-01-05T10:05:00.000000', key: 'o-4' });

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
    expect(state.getWatermark(name)?.cursor).toEqual({ ts: '2026-01-05T10:05:00.000000', key: 'o-4' });
    const rejects = state.listRejects(name);
    expect(rejects.map((r) => [r.reason, r.row?.order_id])).toEqual([['missing_identifier', 'o-4']]);
    state.close();
  });

  it('a second run loads only rows whose change timestamp moved past the watermark', async () => {
    await duckdbExec(
      dbPath,
      `INSERT INTO events.orders VALUES
         ('o-5', 'cy@example.org', NULL, '2026-01-06 08:00:00', '2026-01-06 08:00:01', 7.25, 'GBP', 'MUG-1', 1, NULL, NULL, NULL, NULL),
         ('o-6', 'dee@example.org', 99.0, '2026-01-06 09:00:00', '2026-01-06 09:00:01', NULL, NULL, 'PEN-9', 2, NULL, NULL, NULL, NULL)`,
    );
    const before = stack.api.store.counters.accepted_events;
    const result = await (await triggerRun(stack.client, name)).result();

    expect(result.rowsRead).toBe(2);
    expect(result.eventsAccepted).toBe(2);
    expect(result.rejectedTotal).toBe(0);
    expect(result.watermarkBefore).toEqual({ ts: '2026-01-05T10:05:00.000000', key: 'o-4' });
    expect(result.watermarkAfter).toEqual({ ts: '2026-01-06T09:00:01.000000', key: 'o-6' });
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
});

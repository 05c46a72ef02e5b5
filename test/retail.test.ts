/**
 * The real data set through the whole product (issue 9): the Online Retail CSV (541,909 line items)
 * loaded into DuckDB, both example syncs run on the real Temporal dev server into the local
 * Klaviyo-compatible API (its rate limits off), exact counts and sums checked against SQL over the source.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSyncFile } from '../config/load.ts';
import type { SyncConfig } from '../config/types.ts';
import { loadRetail, RETAIL_EXAMPLES } from '../devenv/retail-data.ts';
import type { SyncRunResult } from '../workflows/index.ts';
import { duckdbQuery, tempDir } from './helpers/duckdb.ts';
import { startStack, type Stack } from './helpers/stack.ts';

const dir = tempDir();
const dbPath = join(dir, 'warehouse.duckdb');
let stack: Stack;
const suffix = Date.now().toString(36);

function sync(file: string): SyncConfig {
  const s = loadSyncFile(join(RETAIL_EXAMPLES, file));
  s.name = `${s.name}-${suffix}`;
  return s;
}

async function run(s: SyncConfig): Promise<SyncRunResult> {
  return stack.client.workflow.execute('syncWorkflow', {
    taskQueue: stack.temporal.taskQueue,
    workflowId: `${s.name}-${Date.now()}`,
    args: [{ sync: s }],
  });
}

/** Sum of event values in thousandths, exactly (values have at most 3 decimals). */
function milliSum(metric: string): bigint {
  let total = 0n;
  for (const e of stack.api.store.events) if (e.metric === metric && e.value !== undefined) total += BigInt(Math.round(e.value * 1000));
  return total;
}

async function sqlOne(sql: string): Promise<Record<string, unknown>> {
  return (await duckdbQuery(dbPath, sql))[0];
}

beforeAll(async () => {
  const rows = await loadRetail(dbPath, { loadedAtMs: Date.now() - 3600_000 });
  expect(rows).toBe(541_909);
  stack = await startStack({ connection: { type: 'duckdb', path: dbPath }, rateLimits: null, api: { limits: { bulk: null, single: null } } });
});

afterAll(async () => {
  await stack?.stop();
});

describe('Online Retail through the whole product', { timeout: 900_000 }, () => {
  it('one "Ordered Product" event per line item with a customer; lines without one rejected', async () => {
    const s = sync('ordered-product.yaml');
    const expected = await sqlOne(`
      SELECT count(*) FILTER (WHERE CustomerID IS NOT NULL) AS accepted,
             count(*) FILTER (WHERE CustomerID IS NULL) AS rejected,
             CAST(sum(Quantity * UnitPrice * 1000) FILTER (WHERE CustomerID IS NOT NULL) AS HUGEINT) AS milli
      FROM retail.lines WHERE InvoiceNo NOT LIKE 'C%'`);
    const result = await run(s);

    expect(result.rowsRead).toBe(541_909 - 9_288); // cancellation lines are excluded by the view
    expect(result.eventsAccepted).toBe(Number(expected.accepted));
    expect(result.eventsAccepted).toBe(397_924);
    expect(result.rejected).toEqual({ missing_identifier: Number(expected.rejected) });
    expect(result.rejected.missing_identifier).toBe(134_697); // the data's 135,080 rows without CustomerID, minus 383 cancellations
    expect(stack.api.store.counters.accepted_events).toBe(397_924);
    expect(stack.api.store.counters.duplicate_events).toBe(0);
    expect(milliSum('Ordered Product')).toBe(BigInt(String(expected.milli)));

    const first = stack.api.store.events.find((e) => e.unique_id === '536365/1')!;
    expect(first).toMatchObject({
      metric: 'Ordered Product',
      time: '2010-12-01T08:26:00.000Z', // Europe/London in December is UTC+0
      value: 15.3,
      value_currency: 'GBP',
      properties: expect.objectContaining({ invoice_no: '536365', stock_code: '85123A', quantity: 6, unit_price: 2.55, country: 'United Kingdom' }),
    });
    expect(stack.api.store.profiles.get(first.profile_id)?.external_id).toBe('17850');
    const summer = stack.api.store.events.find((e) => e.unique_id?.startsWith('563189/'))!;
    expect(summer.time).toBe('2011-08-12T14:22:00.000Z'); // 15:22 BST
  });

  it('one "Placed Order" or "Cancelled Order" per invoice with its lines as an items array', async () => {
    const s = sync('orders.yaml');
    const expected = await duckdbQuery(dbPath, `
      SELECT metric, count(*) FILTER (WHERE customer_id IS NOT NULL) AS accepted,
             count(*) FILTER (WHERE customer_id IS NULL) AS rejected,
             CAST(sum(order_value * 1000) FILTER (WHERE customer_id IS NOT NULL) AS HUGEINT) AS milli
      FROM retail.orders GROUP BY metric ORDER BY metric`);
    const byMetric = Object.fromEntries(expected.map((r) => [r.metric, r]));
    const before = stack.api.store.counters.accepted_events;
    const result = await run(s);

    expect(result.rowsRead).toBe(25_900);
    const accepted = Number(byMetric['Placed Order'].accepted) + Number(byMetric['Cancelled Order'].accepted);
    expect(result.eventsAccepted).toBe(accepted);
    expect(result.rejected).toEqual({ missing_identifier: Number(byMetric['Placed Order'].rejected) + Number(byMetric['Cancelled Order'].rejected) });
    expect(stack.api.store.counters.accepted_events - before).toBe(accepted);
    expect(milliSum('Placed Order')).toBe(BigInt(String(byMetric['Placed Order'].milli)));
    expect(milliSum('Cancelled Order')).toBe(BigInt(String(byMetric['Cancelled Order'].milli)));

    const order = stack.api.store.events.find((e) => e.metric === 'Placed Order' && e.unique_id === '536365')!;
    expect(order.value).toBe(139.12);
    expect(order.properties.line_count).toBe(7);
    const items = order.properties.items as { stock_code: string; quantity: number }[];
    expect(items).toHaveLength(7);
    expect(items[0]).toEqual({ stock_code: '85123A', description: 'WHITE HANGING HEART T-LIGHT HOLDER', quantity: 6, unit_price: 2.55 });
    const cancelled = stack.api.store.events.find((e) => e.metric === 'Cancelled Order' && e.unique_id === 'C536379')!;
    expect(cancelled.value).toBeGreaterThan(0);
  });

  it('a second run of each loads nothing', async () => {
    for (const file of ['ordered-product.yaml', 'orders.yaml']) {
      const before = stack.api.store.counters.requests;
      const r = await run(sync(file));
      expect(r.rowsRead).toBe(0);
      expect(r.eventsAccepted).toBe(0);
      expect(stack.api.store.counters.requests).toBe(before);
    }
  });
});

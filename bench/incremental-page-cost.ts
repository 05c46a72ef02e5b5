/**
 * What one page costs on the DuckDB reader, and how much of it is opening the file read-only per
 * activity (the reader does that so writers can use the file between activities).
 *
 *   node --import tsx bench/incremental-page-cost.ts [rows=200000] [pageSize=5000]
 *
 * Prints milliseconds per page for: open + describe + close; a keyset page read on an open reader;
 * the same page mapped to events. Figures are medians of 30 repetitions.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { openDuckDBReader } from '../activities/warehouse/duckdb.ts';
import { parseSyncText } from '../config/load.ts';
import { compileMapper } from '../mapping/map-row.ts';

const rows = Number(process.argv[2] ?? 200_000);
const pageSize = Number(process.argv[3] ?? 5000);
const path = join(mkdtempSync(join(tmpdir(), 'dwh-bench-')), 'w.duckdb');
{
  const db = await DuckDBInstance.create(path);
  const c = await db.connect();
  await c.run(`CREATE TABLE orders AS SELECT 'o-' || i AS id, 'u' || (i % 9973) || '@shop.test' AS email,
    TIMESTAMP '2025-01-01' + INTERVAL (i) SECOND AS placed_at, TIMESTAMP '2025-02-01' + INTERVAL (i // 3) SECOND AS chg,
    CAST(i % 1000 AS DECIMAL(10,2)) AS total, 'SKU-' || (i % 311) AS sku FROM range(${rows}) r(i)`);
  c.closeSync();
  db.closeSync();
}
const sync = parseSyncText('bench.yaml', `name: bench\nsource:\n  table: orders\nmetric:\n  name: Placed Order\nmapping:\n  event_timestamp: placed_at\n  change_timestamp: chg\n  unique_id: id\n  profile:\n    email: email\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(n: number, fn: () => Promise<unknown>): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return median(out);
}

const open = await time(30, async () => {
  const r = await openDuckDBReader(path);
  await r.describe('orders');
  await r.close();
});
const reader = await openDuckDBReader(path);
const columns = await reader.describe('orders');
const change = columns.find((c) => c.name === 'chg')!;
const tieBreaker = columns.find((c) => c.name === 'id')!;
const after = { ts: '2025-02-01T10:00:00.000000', key: null };
const req = { table: 'orders', columns, change, tieBreaker, after, until: '2030-01-01T00:00:00.000000', limit: pageSize };
const read = await time(30, () => reader.readPage(req));
const page = await reader.readPage(req);
const mapper = compileMapper(sync, columns);
const map = await time(30, async () => page.rows.map((r) => mapper.map(r)));
await reader.close();
console.log(`DuckDB reader, ${rows.toLocaleString('en-US')} rows, pages of ${pageSize}:`);
console.log(`  open read-only + describe + close  ${open.toFixed(1)} ms per activity`);
console.log(`  keyset page read                   ${read.toFixed(1)} ms`);
console.log(`  mapping the page                   ${map.toFixed(1)} ms`);
console.log(`  opening is ${((100 * open) / (open + read + map)).toFixed(0)}% of read + map; loading 5 bulk requests into Klaviyo takes >= 500 ms (10/s burst)`);

/**
 * Benchmark of the Snowflake reader against the local fakesnow server: keyset pages through the real
 * snowflake-sdk, as the worker reads them. Prints rows/s, the time of one reader open (new login vs.
 * reused session) and the peak RSS of this process.
 *
 *   node --import tsx bench/snowflake-read.ts [rows=100000] [pageSize=5000]
 *
 * The server is fakesnow (DuckDB behind a Python HTTP server and the JSON-rowset shim), so rows/s
 * measures mostly the local server, not Snowflake; the RSS figure shows that memory stays bounded by
 * the page size rather than the table size. Uses $FAKESNOW_TEST_ADDRESS when set.
 */
import { closeIdleSnowflakeSessions, openSnowflakeReader } from '../activities/warehouse/snowflake.ts';
import type { Cursor } from '../incremental/cursor.ts';
import { cursorOf } from '../incremental/sql.ts';
import { fakesnowUrl } from '../test/fakesnow/server.ts';
import { snowflakeExec, testConnection, uniqueDatabase } from '../test/helpers/snowflake.ts';

const rows = Number(process.argv[2] ?? 100_000);
const pageSize = Number(process.argv[3] ?? 5000);
const mb = (b: number) => (b / 1024 / 1024).toFixed(0);

let peak = process.memoryUsage().rss;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
sampler.unref();

const server = await fakesnowUrl();
try {
  const db = uniqueDatabase('BENCH');
  const t0 = Date.now();
  await snowflakeExec(
    server.url,
    db,
    'EVENTS',
    `CREATE TABLE orders AS SELECT 9007199254740993 + SEQ8() AS order_id, 'user' || SEQ8() || '@example.org' AS email,
       (UNIFORM(1, 100000, RANDOM()) / 100)::NUMBER(12,2) AS amount,
       DATEADD(second, SEQ8() / 3, '2026-01-01'::TIMESTAMP_NTZ) AS updated_at,
       OBJECT_CONSTRUCT('sku', 'SKU-' || (SEQ8() % 100), 'qty', SEQ8() % 7) AS props
     FROM TABLE(GENERATOR(ROWCOUNT => ${rows}))`,
  );
  console.log(`table of ${rows} rows created in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const conn = testConnection(server.url, { database: db, schema: 'EVENTS' });
  let t = Date.now();
  const first = await openSnowflakeReader(conn);
  const loginMs = Date.now() - t;
  const cols = await first.describe('orders');
  await first.close();
  t = Date.now();
  const reused = await openSnowflakeReader(conn);
  const reuseMs = Date.now() - t;
  await reused.close();

  const change = cols.find((c) => c.name === 'UPDATED_AT')!;
  const key = cols.find((c) => c.name === 'ORDER_ID')!;
  let after: Cursor | null = null;
  let read = 0;
  let pages = 0;
  const start = Date.now();
  for (;;) {
    const r = await openSnowflakeReader(conn); // one reader per page, as the activities do
    const page = await r.readPage({ table: 'orders', columns: cols, change, tieBreaker: key, after, until: '2100-01-01T00:00:00.000000', limit: pageSize });
    await r.close();
    read += page.rows.length;
    pages++;
    if (page.rows.length < pageSize) break;
    after = cursorOf(page.rows[page.rows.length - 1], cols.indexOf(change), cols.indexOf(key));
  }
  const secs = (Date.now() - start) / 1000;
  console.log(`read ${read} rows in ${pages} pages of ${pageSize}: ${(read / secs).toFixed(0)} rows/s (${secs.toFixed(1)} s)`);
  console.log(`reader open: ${loginMs} ms with a login, ${reuseMs} ms reusing an idle session`);
  console.log(`peak RSS ${mb(peak)} MB`);
  if (read !== rows) throw new Error(`read ${read} rows, expected ${rows}`);
  await closeIdleSnowflakeSessions();
} finally {
  await server.stop();
}

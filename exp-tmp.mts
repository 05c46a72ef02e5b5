import { DuckDBInstance } from '@duckdb/node-api';
import { existsSync } from 'node:fs';
import { loadRetail } from './devenv/retail-data.ts';
const db = '/tmp/r10.duckdb';
if (!existsSync(db)) console.log('rows', await loadRetail(db, { copies: 10 }));
const inst = await DuckDBInstance.create(db, { access_mode: 'READ_ONLY' });
const c = await inst.connect();
const lo = 100000, hi = 150000;
const rss = () => Math.round(process.memoryUsage().rss / 1e6);
async function t(label: string, f: () => Promise<unknown>) { const s = performance.now(); await f(); console.log(label, (performance.now() - s).toFixed(0), 'ms rss', rss()); }
const ts = (await c.runAndReadAll('SELECT max(loaded_at)::VARCHAR FROM retail.lines')).getRows()[0][0];
console.log('ts', ts);
await t('literal', () => c.runAndReadAll(`SELECT * FROM retail.ordered_products WHERE loaded_at = TIMESTAMP '${ts}' AND line_no > ${lo} AND line_no <= ${hi} ORDER BY loaded_at, line_no`));
await t('param  ', async () => { const p = await c.prepare(`SELECT * FROM retail.ordered_products WHERE loaded_at = CAST($1 AS TIMESTAMP) AND line_no > CAST($2 AS BIGINT) AND line_no <= CAST($3 AS BIGINT) ORDER BY loaded_at, line_no`); p.bindVarchar(1, String(ts)); p.bindVarchar(2, String(lo)); p.bindVarchar(3, String(hi)); return p.runAndReadAll(); });
await t('literal', () => c.runAndReadAll(`SELECT * FROM retail.ordered_products WHERE loaded_at = TIMESTAMP '${ts}' AND line_no > ${lo} AND line_no <= ${hi} ORDER BY loaded_at, line_no`));
await t('param  ', async () => { const p = await c.prepare(`SELECT * FROM retail.ordered_products WHERE loaded_at = CAST($1 AS TIMESTAMP) AND line_no > CAST($2 AS BIGINT) AND line_no <= CAST($3 AS BIGINT) ORDER BY loaded_at, line_no`); p.bindVarchar(1, String(ts)); p.bindVarchar(2, String(lo)); p.bindVarchar(3, String(hi)); return p.runAndReadAll(); });

/**
 * The Online Retail reference data set (541,909 real line items; ../shared/data/online-retail) as an
 * embedded warehouse: the table `retail.lines` plus the views of examples/online-retail/views.sql.
 * Used by `npm run demo -- --data <csv>`, the real-data end-to-end test and `npm run bench`.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { REPO_ROOT } from '../config/repo-root.ts';
import { loadCsv } from './load-csv.ts';
import { readFileSync } from 'node:fs';

const repoRoot = REPO_ROOT;

/** Folder of the Online Retail example syncs and views. */
export const RETAIL_EXAMPLES = resolve(repoRoot, 'examples', 'online-retail');

/**
 * Where the Online Retail CSV is: $DWH_IMPORT_RETAIL_CSV, else ../shared/data next to the repository,
 * else /work/shared/data.
 * @throws Error listing the places looked at when none has the file.
 */
export function retailCsvPath(env = process.env): string {
  const candidates = [
    env.DWH_IMPORT_RETAIL_CSV,
    resolve(repoRoot, '..', 'shared', 'data', 'online-retail', 'online-retail.csv.gz'),
    '/work/shared/data/online-retail/online-retail.csv.gz',
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`the Online Retail CSV is not at any of: ${candidates.join(', ')} (set DWH_IMPORT_RETAIL_CSV)`);
  return found;
}

/**
 * Loads the CSV into `schema.lines` of the DuckDB file and creates the example views in `schema`.
 * `copies` > 1 repeats the data with shifted keys (line numbers, invoice numbers) and event times
 * shifted by whole weeks per copy, to measure how time and memory grow with the table.
 * @param loadedAtMs the change-detection timestamp written on every row (epoch ms).
 * @returns the number of rows in `schema.lines`.
 */
export async function loadRetail(dbPath: string, opts: { csv?: string; schema?: string; copies?: number; loadedAtMs?: number } = {}): Promise<number> {
  const schema = opts.schema ?? 'retail';
  const copies = opts.copies ?? 1;
  const staging = copies > 1 ? `${schema}.lines_once` : `${schema}.lines`;
  const r = await loadCsv({
    dbPath,
    file: opts.csv ?? retailCsvPath(),
    table: staging,
    rowNumberColumn: 'line_no',
    changeTimestampColumn: 'loaded_at',
    types: { UnitPrice: 'DECIMAL(12,3)', CustomerID: 'VARCHAR' },
    replace: true,
    loadedAtMs: opts.loadedAtMs,
  });
  const db = await DuckDBInstance.create(dbPath);
  const c = await db.connect();
  try {
    if (copies > 1) {
      await c.run(`CREATE OR REPLACE TABLE ${schema}.lines AS
        SELECT CASE WHEN k = 0 THEN InvoiceNo
                    WHEN InvoiceNo LIKE 'C%' THEN 'C' || k || '-' || substr(InvoiceNo, 2)
                    ELSE k || '-' || InvoiceNo END AS InvoiceNo,
               StockCode, Description, Quantity, InvoiceDate + to_weeks(k::INTEGER) AS InvoiceDate, UnitPrice,
               CustomerID, Country, line_no + k * ${r.rows} AS line_no, loaded_at
        FROM ${schema}.lines_once, range(${copies}) AS t(k)
        ORDER BY line_no`);
      await c.run(`DROP TABLE ${schema}.lines_once`);
    }
    await c.run(readFileSync(resolve(RETAIL_EXAMPLES, 'views.sql'), 'utf8').replaceAll('retail.', `${schema}.`));
    const n = await c.runAndReadAll(`SELECT COUNT(*) FROM ${schema}.lines`);
    return Number(n.getRows()[0][0] as bigint);
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

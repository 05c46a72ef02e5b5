/**
 * The real Online Retail data set (../shared/data/online-retail, 541,909 line items) in the readers'
 * value model, for mapping tests and the mapping benchmark.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { SourceValue } from '../../activities/warehouse/types.ts';
import { cols, syncOf } from './mapping.ts';

/** Where the data set lives: `DWH_IMPORT_RETAIL_CSV`, else `../shared/data/...` beside the repository. */
export function retailCsvPath(): string {
  if (process.env.DWH_IMPORT_RETAIL_CSV) return process.env.DWH_IMPORT_RETAIL_CSV;
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  for (const base of [join(repo, '..', 'shared'), join(repo, '..', '..', 'shared'), '/work/shared']) {
    const p = join(base, 'data', 'online-retail', 'online-retail.csv.gz');
    if (existsSync(p)) return p;
  }
  throw new Error('online-retail.csv.gz not found: set DWH_IMPORT_RETAIL_CSV');
}

/** Splits one CSV line (RFC 4180 quoting; the file has no line breaks inside fields). */
export function csvFields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new Error(`unterminated quote in ${line}`);
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(v);
      i++; // the comma
    } else {
      const c = line.indexOf(',', i);
      const end = c < 0 ? line.length : c;
      out.push(line.slice(i, end));
      i = end + 1;
    }
  }
  return out;
}

/** The columns as a DuckDB `read_csv` of the file types them, plus a change-detection column. */
export const RETAIL_COLUMNS = cols(
  'InvoiceNo:text',
  'StockCode:text',
  'Description:text',
  'Quantity:integer',
  'InvoiceDate:timestamp_ntz',
  'UnitPrice:float',
  'CustomerID:float',
  'Country:text',
  'loaded_at:timestamp_ntz',
);

/** One "Ordered Product" event per line item, times in the retailer's zone (UK). */
export const RETAIL_SYNC = syncOf({
  name: 'online-retail',
  metric: { name: 'Ordered Product' },
  mapping: { event_timestamp: 'InvoiceDate', change_timestamp: 'loaded_at', profile: { external_id: 'CustomerID' }, value: 'UnitPrice' },
  options: { timestamp_zone: 'Europe/London', default_phone_region: 'GB' },
});

/**
 * One CSV line as a row of `RETAIL_COLUMNS`, typed as DuckDB's reader gives it: empty fields NULL,
 * `17850.0` a float, timestamps canonical (`2010-12-01T08:26:00.000000`).
 */
export function retailRow(line: string, loadedAt = '2012-01-01T00:00:00.000000'): SourceValue[] {
  const f = csvFields(line);
  return [textField(f[0]), textField(f[1]), textField(f[2]), numberField(f[3]), `${f[4].replace(' ', 'T')}.000000`, numberField(f[5]), numberField(f[6]), textField(f[7]), loadedAt];
}

function textField(s: string): string | null {
  return s === '' ? null : s;
}

function numberField(s: string): number | null {
  return s === '' ? null : Number(s);
}

/** Every data line of the file (header dropped). */
export function retailLines(): string[] {
  const text = gunzipSync(readFileSync(retailCsvPath())).toString('utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.shift();
  return lines;
}

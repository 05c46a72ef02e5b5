/**
 * Loading a CSV export (plain or gzip) into the embedded DuckDB warehouse, so users can try the tool
 * on their own data: `dwh-import load-csv <file> --table <schema.table>`. DuckDB's CSV sniffer picks
 * the column types; `types` overrides them (e.g. `UnitPrice=DECIMAL(12,3)` for exact money).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { duckdbDialect } from '../activities/warehouse/duckdb.ts';
import { splitTableRef } from '../incremental/sql.ts';

export interface LoadCsvOptions {
  /** The DuckDB database file (created if missing). */
  dbPath: string;
  /** CSV file, optionally gzip-compressed (`.csv.gz`). */
  file: string;
  /** Target table: `table` or `schema.table` (the schema is created if missing). */
  table: string;
  /** Column type overrides, column name -> DuckDB type. */
  types?: Record<string, string>;
  /** Add a column numbering the rows in file order from 1 (a stable unique key for tie-breaks and unique_id). */
  rowNumberColumn?: string;
  /** Add a change-detection timestamp column set to the load time, as a TIMESTAMPTZ (an instant). */
  changeTimestampColumn?: string;
  /** Replace the table when it exists (default: fail). */
  replace?: boolean;
  /** The load time written into `changeTimestampColumn`; default now. Epoch ms. */
  loadedAtMs?: number;
}

/** What was loaded. */
export interface LoadCsvResult {
  rows: number;
  columns: { name: string; type: string }[];
}

/**
 * Loads the CSV. Rows keep file order (DuckDB's insertion order), so `rowNumberColumn` is the line
 * number minus the header.
 * @throws Error naming the file or table when the file is missing, unreadable, or the table exists.
 */
export async function loadCsv(o: LoadCsvOptions): Promise<LoadCsvResult> {
  const file = resolve(o.file);
  if (!existsSync(file)) throw new Error(`CSV file not found: ${file}`);
  const parts = splitTableRef(o.table);
  if (parts.length > 2) throw new Error(`--table takes table or schema.table, not ${o.table}`);
  mkdirSync(dirname(resolve(o.dbPath)), { recursive: true });
  const db = await openForWriting(o.dbPath);
  const c = await db.connect();
  const q = duckdbDialect.quoteIdent;
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  try {
    await c.run("SET TimeZone = 'UTC'");
    await c.run('SET preserve_insertion_order = true');
    if (parts.length === 2) await c.run(`CREATE SCHEMA IF NOT EXISTS ${q(parts[0].name)}`);
    const target = duckdbDialect.quoteTable(o.table);
    const typeArg = o.types && Object.keys(o.types).length
      ? `, types = {${Object.entries(o.types).map(([k, v]) => `${lit(k)}: ${lit(v)}`).join(', ')}}`
      : '';
    const extra: string[] = [];
    if (o.rowNumberColumn) extra.push(`(row_number() OVER ())::BIGINT AS ${q(o.rowNumberColumn)}`);
    if (o.changeTimestampColumn) {
      const at = new Date(o.loadedAtMs ?? Date.now()).toISOString().replace('T', ' ').replace('Z', '');
      // An instant (TIMESTAMPTZ), so a sync reads it right whatever its timestamp_zone: a zone-less
      // column holding UTC wall-clock time would be read in that zone, hours off west or east of UTC.
      extra.push(`TIMESTAMPTZ ${lit(`${at}+00`)} AS ${q(o.changeTimestampColumn)}`);
    }
    // A single-threaded scan keeps file order for row_number() OVER ().
    await c.run('SET threads = 1');
    await c.run(
      `CREATE ${o.replace ? 'OR REPLACE ' : ''}TABLE ${target} AS SELECT *${extra.length ? `, ${extra.join(', ')}` : ''} FROM read_csv(${lit(file)}, header = true${typeArg})`,
    ).catch((e: Error) => {
      if (/already exists/i.test(e.message)) throw new Error(`table ${o.table} already exists in ${o.dbPath} (use --replace to overwrite it)`);
      throw new Error(`cannot load ${file} into ${o.table}: ${e.message.split('\n')[0]}`);
    });
    const count = await c.runAndReadAll(`SELECT COUNT(*) FROM ${target}`);
    const desc = await c.runAndReadAll(`SELECT * FROM ${target} LIMIT 0`);
    return {
      rows: Number(count.getRows()[0][0] as bigint),
      columns: desc.columnNames().map((name, i) => ({ name, type: desc.columnTypes()[i].toString() })),
    };
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

/** Whether `table` (`schema.table` or `table`) exists in the DuckDB file (false when the file does not exist). */
export async function duckdbTableExists(dbPath: string, table: string): Promise<boolean> {
  if (!existsSync(dbPath)) return false;
  const parts = splitTableRef(table);
  const name = parts[parts.length - 1].name;
  const schema = parts.length > 1 ? parts[parts.length - 2].name : 'main';
  const db = await DuckDBInstance.create(dbPath, { access_mode: 'READ_ONLY' });
  const c = await db.connect();
  try {
    const r = await c.runAndReadAll('SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [schema, name]);
    return Number(r.getRows()[0][0] as bigint) > 0;
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

/**
 * Opens a DuckDB file for writing. DuckDB allows one writing process or several reading ones: while a
 * dwh-import worker reads the file for a page (it opens it read-only per page), a writer is refused.
 * @throws Error that names the holder and what to do, instead of DuckDB's lock message.
 */
export async function openForWriting(path: string): Promise<DuckDBInstance> {
  try {
    return await DuckDBInstance.create(path);
  } catch (e) {
    const m = /Could not set lock on file .*?Conflicting lock is held in (.*?) \(PID (\d+)\)/s.exec((e as Error).message);
    if (!m) throw e;
    throw new Error(
      `${path} is open in another process (${m[1]}, PID ${m[2]}; a dwh-import worker reading a page, or the demo). ` +
        'DuckDB lets one process write a file only while no other has it open: retry when that run ends, or pause the syncs reading it.',
    );
  }
}

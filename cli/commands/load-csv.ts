/** `dwh-import load-csv`: loads a CSV export into the embedded DuckDB warehouse. */
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConnectionFile } from '../../config/load.ts';
import { loadCsv } from '../../devenv/load-csv.ts';
import { num } from '../format.ts';
import { deploymentFrom } from '../context.ts';

function collect(value: string, previous: Record<string, string>): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0) throw new Error(`--type takes column=TYPE, e.g. UnitPrice=DECIMAL(12,3); got "${value}"`);
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
}

/** Runs the statements of a SQL file against the DuckDB file (e.g. views over the loaded table). */
export async function runSqlFile(dbPath: string, sqlFile: string): Promise<void> {
  const db = await DuckDBInstance.create(dbPath);
  const c = await db.connect();
  try {
    await c.run(readFileSync(sqlFile, 'utf8'));
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

export function register(program: Command): void {
  program
    .command('load-csv')
    .description('load a CSV export (.csv or .csv.gz) into the embedded DuckDB warehouse, to try syncs on your own data')
    .argument('<file>', 'CSV file with a header line, optionally gzip-compressed')
    .requiredOption('--table <name>', 'target table: table or schema.table')
    .option('--db <file>', 'DuckDB file (default: the path in the duckdb connection file)')
    .option('--connection <file>', 'connection file giving the DuckDB path (default connection.yaml)')
    .option('--row-number <column>', 'add a column numbering rows in file order (a unique key for unique_id / tie_breaker)')
    .option('--change-timestamp <column>', 'add a change-detection timestamp column set to the load time (a TIMESTAMPTZ: an instant, read the same under any timestamp_zone)')
    .option('--type <column=TYPE>', 'override a column type, e.g. UnitPrice=DECIMAL(12,3) (repeatable)', collect, {})
    .option('--replace', 'replace the table if it exists')
    .option('--run-sql <file>', 'run a SQL file afterwards (e.g. views shaping the rows into events)')
    .action(async (file: string, opts) => {
      let dbPath: string = opts.db;
      if (!dbPath) {
        const d = deploymentFrom(opts);
        if (!existsSync(d.connectionFile)) throw new Error(`no --db given and no connection file ${d.connectionFile}`);
        const conn = loadConnectionFile(d.connectionFile);
        if (conn.type !== 'duckdb') throw new Error(`load-csv writes the embedded DuckDB warehouse; ${d.connectionFile} is a ${conn.type} connection (give --db)`);
        dbPath = conn.path;
      }
      const started = Date.now();
      const r = await loadCsv({
        dbPath,
        file,
        table: opts.table,
        types: opts.type,
        rowNumberColumn: opts.rowNumber,
        changeTimestampColumn: opts.changeTimestamp,
        replace: opts.replace,
      });
      console.log(`loaded ${num(r.rows)} rows into ${opts.table} (${dbPath}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      for (const c of r.columns) console.log(`  ${c.name.padEnd(24)} ${c.type}`);
      if (opts.runSql) {
        await runSqlFile(dbPath, opts.runSql);
        console.log(`ran ${opts.runSql}`);
      }
    });
}

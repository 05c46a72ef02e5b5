/**
 * The main job end to end (issue 2) on the embedded DuckDB warehouse: a real DuckDB file, read by the
 * worker through @duckdb/node-api. The scenario itself (syncs, rows, assertions) is shared with the
 * Snowflake run (test/snowflake-e2e.test.ts): see test/helpers/e2e-scenario.ts.
 */
import { join } from 'node:path';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { e2eScenario, type Cell, type SpecType, type TableSpec } from './helpers/e2e-scenario.ts';

const DUCKDB_TYPES: Record<SpecType, string> = {
  text: 'VARCHAR',
  float: 'DOUBLE',
  int: 'INTEGER',
  bigint: 'DECIMAL(38,0)',
  'decimal(10,2)': 'DECIMAL(10,2)',
  bool: 'BOOLEAN',
  json: 'JSON',
  ntz: 'TIMESTAMP',
  tz: 'TIMESTAMPTZ',
};

function literal(v: Cell, type: SpecType): string {
  if (v === null) return 'NULL';
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (type === 'float' || type === 'int' || type === 'bigint' || type.startsWith('decimal')) return String(v);
  return `'${String(v).replace(/'/g, "''")}'`;
}

const dbPath = join(tempDir(), 'warehouse.duckdb');

e2eScenario({
  label: 'DuckDB',
  start: async () => ({ type: 'duckdb', path: dbPath }),
  create: (t: TableSpec) =>
    duckdbExec(
      dbPath,
      `CREATE SCHEMA IF NOT EXISTS ${t.schema}`,
      `CREATE TABLE ${t.schema}.${t.table} (${t.columns.map((c) => `"${c.name}" ${DUCKDB_TYPES[c.type]}`).join(', ')})`,
    ),
  insert: (t: TableSpec, rows: Cell[][]) =>
    duckdbExec(dbPath, `INSERT INTO ${t.schema}.${t.table} VALUES ${rows.map((r) => `(${r.map((v, i) => literal(v, t.columns[i].type)).join(', ')})`).join(',\n')}`),
  ntzDigits: 6,
  stop: async () => {},
});

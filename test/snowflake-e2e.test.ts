/**
 * The main job end to end on Snowflake: the same scenario as test/e2e.test.ts (syncs, rows,
 * assertions: test/helpers/e2e-scenario.ts), with the worker reading a real local Snowflake-compatible
 * server (fakesnow behind test/fakesnow/shim.py) through snowflake-sdk. Unquoted columns are upper case
 * in Snowflake (`EMAIL`, `UPDATED_AT`, ...) while the YAML names them in lower case; ids past 2^53 are
 * NUMBER(38,0), JSON columns VARIANT, event times TIMESTAMP_NTZ and TIMESTAMP_TZ.
 */
import type { FakesnowServer } from './fakesnow/server.ts';
import { fakesnowUrl } from './fakesnow/server.ts';
import { e2eScenario, type Cell, type SpecType, type TableSpec } from './helpers/e2e-scenario.ts';
import { snowflakeExec, testConnection, uniqueDatabase } from './helpers/snowflake.ts';

const SNOWFLAKE_TYPES: Record<SpecType, string> = {
  text: 'VARCHAR',
  float: 'FLOAT',
  int: 'INTEGER',
  bigint: 'NUMBER(38,0)',
  'decimal(10,2)': 'NUMBER(10,2)',
  bool: 'BOOLEAN',
  json: 'VARIANT',
  ntz: 'TIMESTAMP_NTZ',
  tz: 'TIMESTAMP_TZ',
};

function ident(c: TableSpec['columns'][number]): string {
  return c.unquoted ? c.name : `"${c.name}"`;
}

function expr(v: Cell, type: SpecType): string {
  if (v === null) return 'NULL';
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (type === 'float' || type === 'int' || type === 'bigint' || type.startsWith('decimal')) return String(v);
  const text = `'${String(v).replace(/'/g, "''")}'`;
  if (type === 'json') return `PARSE_JSON(${text})`; // VARIANT values cannot be written as VALUES literals
  if (type === 'tz') return `'${String(v).replace(' ', 'T')}'::TIMESTAMP_TZ`;
  if (type === 'ntz') return `${text}::TIMESTAMP_NTZ`;
  return text;
}

let server: FakesnowServer | undefined;
const database = uniqueDatabase('E2E');

e2eScenario({
  label: 'Snowflake',
  start: async () => {
    server = await fakesnowUrl();
    return testConnection(server.url, { database, schema: 'PUBLIC' });
  },
  create: (t: TableSpec) =>
    snowflakeExec(server!.url, database, t.schema.toUpperCase(), `CREATE TABLE ${t.schema}.${t.table} (${t.columns.map((c) => `${ident(c)} ${SNOWFLAKE_TYPES[c.type]}`).join(', ')})`),
  insert: (t: TableSpec, rows: Cell[][]) =>
    snowflakeExec(
      server!.url,
      database,
      t.schema.toUpperCase(),
      `INSERT INTO ${t.schema}.${t.table} (${t.columns.map(ident).join(', ')}) ${rows
        .map((r) => `SELECT ${r.map((v, i) => expr(v, t.columns[i].type)).join(', ')}`)
        .join(' UNION ALL ')}`,
    ),
  ntzDigits: 9,
  stop: async () => {
    await server?.stop();
  },
});

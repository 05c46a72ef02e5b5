/**
 * DuckDB reader (`@duckdb/node-api`): the embedded warehouse for the demo and the tests.
 * The database file is opened read-only for the lifetime of the reader (one activity), so a writer
 * (the demo's seeder, a test inserting rows) must not hold it open at the same time: DuckDB locks the
 * file per process. Opening, describing and closing costs about 25 ms (measured on 2 cores with a
 * 100,000-row table; see the issue 6 note), small next to the loading of a page, and it lets writers in
 * between activities. A page read while a writer holds the file fails with a retryable error.
 */
import {
  DuckDBInstance,
  DuckDBTypeId,
  JsonDuckDBValueConverter,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { formatMicros, formatNanos } from '../../incremental/cursor.ts';
import {
  countQuery,
  nullChangeCountQuery,
  nullChangeQuery,
  readKeysetPage,
  splitTableRef,
  type BoundSql,
  type CountRequest,
  type NullChangeRequest,
  type SqlDialect,
} from '../../incremental/sql.ts';
import {
  SourceError,
  type ColumnKind,
  type PageRequest,
  type SourceColumn,
  type SourcePage,
  type SourceValue,
  type WarehouseReader,
} from './types.ts';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** DuckDB quoting: every identifier double-quoted, `"` doubled. */
export const duckdbDialect: SqlDialect = {
  quoteIdent: (name) => `"${name.replace(/"/g, '""')}"`,
  quoteTable: (ref) => splitTableRef(ref).map((p) => `"${p.name.replace(/"/g, '""')}"`).join('.'),
  param: (sqlType) => `CAST(? AS ${sqlType})`,
};

type Convert = (v: DuckDBValue) => SourceValue;

function bigintValue(v: DuckDBValue): SourceValue {
  const b = v as bigint;
  return b <= MAX_SAFE && b >= -MAX_SAFE ? Number(b) : b.toString();
}

function kindOf(type: DuckDBType): { kind: ColumnKind; convert: Convert } {
  const asString: Convert = (v) => String(v);
  switch (type.typeId) {
    case DuckDBTypeId.VARCHAR:
      return { kind: type.alias === 'JSON' ? 'json' : 'text', convert: (v) => v as string };
    case DuckDBTypeId.BOOLEAN:
      return { kind: 'boolean', convert: (v) => v as boolean };
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
      return { kind: 'integer', convert: (v) => v as number };
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
      return { kind: 'integer', convert: bigintValue };
    case DuckDBTypeId.DECIMAL:
      return { kind: 'decimal', convert: asString };
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return { kind: 'float', convert: (v) => v as number };
    case DuckDBTypeId.TIMESTAMP:
      return { kind: 'timestamp_ntz', convert: (v) => formatMicros((v as unknown as { micros: bigint }).micros) };
    case DuckDBTypeId.TIMESTAMP_S:
      return { kind: 'timestamp_ntz', convert: (v) => formatMicros((v as unknown as { seconds: bigint }).seconds * 1_000_000n) };
    case DuckDBTypeId.TIMESTAMP_MS:
      return { kind: 'timestamp_ntz', convert: (v) => formatMicros((v as unknown as { millis: bigint }).millis * 1000n) };
    case DuckDBTypeId.TIMESTAMP_NS:
      return { kind: 'timestamp_ntz', convert: (v) => formatNanos((v as unknown as { nanos: bigint }).nanos) };
    case DuckDBTypeId.TIMESTAMP_TZ:
      return { kind: 'timestamp_tz', convert: (v) => `${formatMicros((v as unknown as { micros: bigint }).micros)}Z` };
    case DuckDBTypeId.DATE:
      return { kind: 'date', convert: asString };
    case DuckDBTypeId.TIME:
    case DuckDBTypeId.TIME_NS:
      return { kind: 'time', convert: asString };
    case DuckDBTypeId.BLOB:
      return { kind: 'binary', convert: (v) => Buffer.from((v as unknown as { bytes: Uint8Array }).bytes).toString('hex') };
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY:
    case DuckDBTypeId.STRUCT:
    case DuckDBTypeId.MAP:
      return { kind: 'structured', convert: (v) => JsonDuckDBValueConverter(v, type, JsonDuckDBValueConverter) as SourceValue };
    default:
      return { kind: 'other', convert: asString };
  }
}

/** Opens a DuckDB file read-only. @throws SourceError when the file cannot be opened. */
export async function openDuckDBReader(path: string): Promise<DuckDBReader> {
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  } catch (e) {
    const msg = (e as Error).message;
    // A lock held by a writer is transient (the activity is retried); a missing file is not.
    if (/lock/i.test(msg)) throw new Error(`DuckDB database ${path} is locked by a writer in another process; retrying later. ${msg.split('\n')[0]}`);
    throw new SourceError(`cannot open DuckDB database ${path}: ${msg}`);
  }
  const conn = await instance.connect();
  await conn.run("SET TimeZone = 'UTC'");
  return new DuckDBReader(instance, conn);
}

/** A read-only DuckDB connection implementing `WarehouseReader`. */
export class DuckDBReader implements WarehouseReader {
  readonly dialect = 'duckdb';
  constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  async describe(table: string): Promise<SourceColumn[]> {
    let result;
    try {
      result = await this.conn.runAndReadAll(`SELECT * FROM ${duckdbDialect.quoteTable(table)} LIMIT 0`);
    } catch (e) {
      throw new SourceError(`table or view ${table} cannot be read: ${(e as Error).message.split('\n')[0]}`);
    }
    const names = result.columnNames();
    const types = result.columnTypes();
    return names.map((name, i) => ({ name, kind: kindOf(types[i]).kind, sqlType: types[i].toString() }));
  }

  private async exec(q: BoundSql, columns: SourceColumn[]): Promise<SourceValue[][]> {
    const reader = await this.conn.runAndReadAll(q.sql, q.params);
    const conv = reader.columnTypes().map((t) => kindOf(t).convert);
    const raw = reader.getRows();
    const n = columns.length;
    const out: SourceValue[][] = new Array(raw.length);
    for (let r = 0; r < raw.length; r++) {
      const src = raw[r];
      const row: SourceValue[] = new Array(n);
      for (let c = 0; c < n; c++) {
        const v = src[c];
        row[c] = v === null || v === undefined ? null : conv[c](v);
      }
      out[r] = row;
    }
    return out;
  }

  async readPage(req: PageRequest): Promise<SourcePage> {
    const page = await readKeysetPage(duckdbDialect, req, (q, columns) => this.exec(q, columns));
    return { columns: req.columns, rows: page.rows, more: page.more };
  }

  async readNullChange(req: NullChangeRequest) {
    const c = nullChangeCountQuery(duckdbDialect, req);
    const count = await this.conn.runAndReadAll(c.sql, c.params);
    const total = Number(count.getRows()[0][0] as bigint);
    const rows = total === 0 ? [] : await this.exec(nullChangeQuery(duckdbDialect, req), req.columns);
    return { page: { columns: req.columns, rows }, total };
  }

  /** DuckDB's clock (the host's): `current_timestamp` in epoch milliseconds. */
  async now(): Promise<number> {
    const r = await this.conn.runAndReadAll('SELECT epoch_ms(current_timestamp)');
    return Number(r.getRows()[0][0] as bigint);
  }

  async countRows(req: CountRequest): Promise<number> {
    const q = countQuery(duckdbDialect, req);
    const r = await this.conn.runAndReadAll(q.sql, q.params);
    return Number(r.getRows()[0][0] as bigint);
  }

  async close(): Promise<void> {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

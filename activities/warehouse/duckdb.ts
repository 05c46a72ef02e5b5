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
  type DuckDBDataChunk,
  type DuckDBResult,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { formatMicros, formatNanos } from '../../incremental/cursor.ts';
import {
  countQuery,
  nullChangeCountQuery,
  nullChangeQuery,
  keysetPageBounds,
  pageRangeQuery,
  readKeysetPage,
  splitTableRef,
  type BoundSql,
  type CountRequest,
  type NullChangeRequest,
  type SqlDialect,
} from '../../incremental/sql.ts';
import {
  DEFAULT_CHUNK_ROWS,
  emptyStream,
  SourceError,
  type ColumnKind,
  type PageRequest,
  type PageStream,
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

/**
 * A conversion that remembers its last input: rows in cursor order often repeat a timestamp (rows of one
 * transaction share their change timestamp, lines of one order their event time), so the repeated
 * value is formatted once and its text shared.
 */
function lastValueMemo(key: (v: DuckDBValue) => bigint, format: (k: bigint) => string): Convert {
  let lastKey: bigint | undefined;
  let lastText = '';
  return (v) => {
    const k = key(v);
    if (k !== lastKey) {
      lastText = format(k);
      lastKey = k;
    }
    return lastText;
  };
}

/** A DECIMAL's exact text (`12.50`, `-0.05`), the same as the driver's `toString()` without its locale machinery. */
function decimalText(v: DuckDBValue): string {
  const d = v as unknown as { value: bigint | number; scale: number };
  const neg = d.value < 0;
  let digits = String(neg ? -d.value : d.value);
  if (d.scale === 0) return neg ? `-${digits}` : digits;
  if (digits.length <= d.scale) digits = digits.padStart(d.scale + 1, '0');
  const cut = digits.length - d.scale;
  return `${neg ? '-' : ''}${digits.slice(0, cut)}.${digits.slice(cut)}`;
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
      return { kind: 'decimal', convert: decimalText };
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return { kind: 'float', convert: (v) => v as number };
    case DuckDBTypeId.TIMESTAMP:
      return { kind: 'timestamp_ntz', convert: lastValueMemo((v) => (v as unknown as { micros: bigint }).micros, formatMicros) };
    case DuckDBTypeId.TIMESTAMP_S:
      return { kind: 'timestamp_ntz', convert: lastValueMemo((v) => (v as unknown as { seconds: bigint }).seconds, (s) => formatMicros(s * 1_000_000n)) };
    case DuckDBTypeId.TIMESTAMP_MS:
      return { kind: 'timestamp_ntz', convert: lastValueMemo((v) => (v as unknown as { millis: bigint }).millis, (ms) => formatMicros(ms * 1000n)) };
    case DuckDBTypeId.TIMESTAMP_NS:
      return { kind: 'timestamp_ntz', convert: lastValueMemo((v) => (v as unknown as { nanos: bigint }).nanos, formatNanos) };
    case DuckDBTypeId.TIMESTAMP_TZ:
      return { kind: 'timestamp_tz', convert: lastValueMemo((v) => (v as unknown as { micros: bigint }).micros, (us) => `${formatMicros(us)}Z`) };
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

function converters(result: DuckDBResult): Convert[] {
  return result.columnTypes().map((t) => kindOf(t).convert);
}

/**
 * A chunk's rows in the `ColumnKind` value model, read column by column from the chunk's vectors (the
 * driver's value objects live only while their row is converted).
 */
function convertChunk(chunk: DuckDBDataChunk, conv: readonly Convert[], from = 0, to = chunk.rowCount): SourceValue[][] {
  const count = to - from;
  const n = conv.length;
  const rows: SourceValue[][] = new Array(count);
  for (let r = 0; r < count; r++) rows[r] = new Array(n);
  for (let c = 0; c < n; c++) {
    const vector = chunk.getColumnVector(c);
    const f = conv[c];
    for (let r = 0; r < count; r++) {
      const v = vector.getItem(from + r);
      rows[r][c] = v === null || v === undefined ? null : f(v);
    }
  }
  return rows;
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

  /** Runs a query and converts every row (for small results: bounds, counts, samples). */
  private async exec(q: BoundSql): Promise<SourceValue[][]> {
    const result = await this.conn.run(q.sql, q.params);
    const conv = converters(result);
    const out: SourceValue[][] = [];
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) return out;
      for (const row of convertChunk(chunk, conv)) out.push(row);
    }
  }

  async readPage(req: PageRequest): Promise<SourcePage> {
    const page = await readKeysetPage(duckdbDialect, req, (q) => this.exec(q));
    return { columns: req.columns, rows: page.rows, more: page.more };
  }

  /**
   * The page's bounds first (`keysetPageBounds`), then its rows through a streaming result
   * (`connection.stream`): DuckDB hands over one vector of at most 2,048 rows per `fetchChunk()`, whose
   * values stay native until a slice of `chunkRows` rows is converted for the consumer, so only the
   * slice in hand lives in JS memory. Nothing else may run on this reader while the stream is open.
   */
  async streamPage(req: PageRequest, opts: { chunkRows?: number } = {}): Promise<PageStream> {
    const chunkRows = Math.max(1, Math.floor(opts.chunkRows ?? DEFAULT_CHUNK_ROWS));
    const bounds = await keysetPageBounds(duckdbDialect, req, (q) => this.exec(q));
    if (!bounds) return emptyStream(req.columns);
    const q = pageRangeQuery(duckdbDialect, req, bounds.last);
    let result: DuckDBResult | undefined = await this.conn.stream(q.sql, q.params);
    const conv = converters(result);
    return {
      columns: req.columns,
      more: bounds.more,
      async *[Symbol.asyncIterator]() {
        while (result) {
          const chunk = await result.fetchChunk();
          if (!chunk || chunk.rowCount === 0) break;
          // Converted a slice at a time, so that only `chunkRows` rows exist as JS values at once.
          for (let i = 0; i < chunk.rowCount; i += chunkRows) yield convertChunk(chunk, conv, i, Math.min(chunk.rowCount, i + chunkRows));
        }
        result = undefined;
      },
      // The native result is released with its last reference (and with the connection on `close()`).
      close: async () => {
        result = undefined;
      },
    };
  }

  async readNullChange(req: NullChangeRequest) {
    const c = nullChangeCountQuery(duckdbDialect, req);
    const count = await this.conn.runAndReadAll(c.sql, c.params);
    const total = Number(count.getRows()[0][0] as bigint);
    const rows = total === 0 ? [] : await this.exec(nullChangeQuery(duckdbDialect, req));
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

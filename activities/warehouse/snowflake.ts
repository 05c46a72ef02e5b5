/**
 * Snowflake reader through the official `snowflake-sdk` (facts: ../shared/docs/snowflake.md).
 *
 * - Identifiers: every column is double-quoted with the exact name Snowflake reports (unquoted names are
 *   upper case in Snowflake, so a YAML `updated_at` resolves, case-insensitively in the mapper, to the
 *   column `UPDATED_AT`, which the SQL then writes `"UPDATED_AT"`). Table references follow Snowflake's
 *   own rule: an unquoted part of `db.schema.table` is upper-cased, a double-quoted part is kept exactly.
 * - Values are bound as strings with explicit casts (`CAST(? AS NUMBER(38,0))`); timestamps are cast to
 *   their type at full precision (`TIMESTAMP_NTZ(9)`), so a cursor literal compares exactly equal to the
 *   row it came from.
 * - Rows are streamed (`streamResult: true` + `statement.streamRows()`, back-pressured), never buffered
 *   twice; numbers, VARIANT, OBJECT and ARRAY are fetched as text (`fetchAsString`) so nothing is rounded.
 * - Timestamps never depend on the session's TIMEZONE: each is built from the epoch seconds and
 *   nanoseconds the driver decoded from the wire.
 */
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import type { Readable } from 'node:stream';
import snowflake from 'snowflake-sdk';
import type { SnowflakeConnectionConfig } from '../../config/types.ts';
import {
  countQuery,
  keysetPageBounds,
  nullChangeCountQuery,
  nullChangeQuery,
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

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// The driver logs to the console at INFO by default. Every failure reaches the caller as a classified
// error, so its own log stays off unless DWH_IMPORT_SNOWFLAKE_LOG_LEVEL (ERROR, WARN, INFO, DEBUG, TRACE)
// asks for it; the driver masks secrets in what it logs.
snowflake.configure({ logLevel: (process.env.DWH_IMPORT_SNOWFLAKE_LOG_LEVEL as snowflake.LogLevel | undefined) ?? 'OFF' });

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The declared type to cast a bound parameter to. Timestamps are cast at full precision (9 digits)
 * whatever the column's own scale, so the literal is never rounded before the comparison; other
 * types keep their declared type (a key read from a `NUMBER(38,0)` column fits `NUMBER(38,0)`).
 */
export function snowflakeCastType(sqlType: string): string {
  const t = sqlType.toUpperCase();
  const ts = /^(TIMESTAMP_NTZ|TIMESTAMP_LTZ|TIMESTAMP_TZ)\b/.exec(t);
  if (ts) return `${ts[1]}(9)`;
  if (/^(VARCHAR|TEXT|STRING|CHAR)\b/.test(t)) return 'VARCHAR';
  return t;
}

/**
 * Snowflake quoting: columns double-quoted with their exact (reported) name; table parts upper-cased
 * when written unquoted in the YAML (Snowflake's rule for unquoted identifiers), kept exactly when quoted.
 */
export const snowflakeDialect: SqlDialect = {
  quoteIdent: quote,
  quoteTable: (ref) => splitTableRef(ref).map((p) => quote(p.quoted ? p.name : p.name.toUpperCase())).join('.'),
  param: (sqlType) => `CAST(? AS ${snowflakeCastType(sqlType)})`,
};

/** Column metadata as the driver reports it (the `rowtype` of a result). */
export interface SnowflakeColumnMeta {
  name: string;
  /** Snowflake's lower-case type name: `fixed`, `real`, `text`, `timestamp_ntz`, `variant`, ... */
  type: string;
  precision?: number | null;
  scale?: number | null;
  /** Structured OBJECT/ARRAY/MAP field metadata, when the type is structured. */
  fields?: unknown;
}

/** The driver's decoded timestamp or date (`SfDate`): a Date with exact accessors. */
interface SfDateLike {
  getEpochSeconds(): number;
  getNanoSeconds(): number;
}

/** A column's neutral kind, declared type text, and the conversion of the driver's value. */
export interface SnowflakeColumn extends SourceColumn {
  convert(v: unknown): SourceValue;
}

/**
 * Formats an instant or wall clock given as whole epoch seconds (UTC) and nanoseconds as
 * `YYYY-MM-DDTHH:MM:SS.fffffffff` with `digits` (6 or 9) fractional digits.
 */
export function formatEpochNanos(epochSeconds: number, nanos: number, digits: 6 | 9): string {
  const iso = new Date(epochSeconds * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  const frac = String(nanos).padStart(9, '0').slice(0, digits);
  return `${iso.slice(0, 19)}.${frac}`;
}

/** Fractional digits of a timestamp column's canonical literals: 6 up to microseconds, 9 beyond. */
export function timestampDigits(scale: number | null | undefined): 6 | 9 {
  return scale !== null && scale !== undefined && scale <= 6 ? 6 : 9;
}

/**
 * The driver hands a NULL number fetched as text over as the string `NULL` unless the process-wide
 * `representNullAsStringNull` is off; a NUMBER or FLOAT can never hold that text, so it is NULL.
 */
function isNullText(raw: unknown): boolean {
  return raw === 'NULL';
}

function integerValue(raw: unknown): SourceValue {
  if (isNullText(raw)) return null;
  const s = String(raw);
  const n = Number(s);
  return Number.isSafeInteger(n) && Math.abs(n) <= MAX_SAFE ? n : s.replace(/^\+/, '');
}

function floatValue(raw: unknown): SourceValue {
  if (typeof raw === 'number') return raw;
  if (isNullText(raw)) return null;
  const s = String(raw).trim().toLowerCase();
  if (s === 'inf' || s === 'infinity') return Infinity;
  if (s === '-inf' || s === '-infinity') return -Infinity;
  return Number(s);
}

function jsonText(v: unknown): SourceValue {
  if (typeof v === 'string') return v;
  if (v instanceof Map) return JSON.stringify(Object.fromEntries(v));
  return JSON.stringify(v);
}

/**
 * The neutral column for a Snowflake result column, and how to convert the driver's value
 * (read with `fetchAsString: ['Number', 'JSON', 'Object', 'Array']`) into the `ColumnKind` model:
 * - NUMBER(p,0) -> `integer` (number when |v| <= 2^53 - 1, else the exact digit string);
 *   NUMBER(p,s>0) -> `decimal` (Snowflake's exact text, e.g. `12.50`); FLOAT -> `float`;
 * - TIMESTAMP_NTZ -> `timestamp_ntz`, the wall clock as stored (the mapper applies the sync's zone);
 *   TIMESTAMP_LTZ and TIMESTAMP_TZ -> `timestamp_tz`, the instant in UTC; never the session TIMEZONE.
 *   Literals carry 6 fractional digits when the column's scale is at most 6, else 9 (nanoseconds);
 * - DATE -> `date`; TIME -> `time` (`HH:MM:SS.fffffffff`, the TIME_OUTPUT_FORMAT the session sets);
 * - VARIANT, OBJECT, ARRAY (and MAP) -> `json` text; BOOLEAN -> `boolean`; BINARY -> lower-case hex;
 * - TEXT -> `text`; anything else (GEOGRAPHY, VECTOR, ...) -> `other`, as text.
 */
export function snowflakeColumn(meta: SnowflakeColumnMeta): SnowflakeColumn {
  const type = meta.type.toLowerCase();
  const p = meta.precision ?? undefined;
  const s = meta.scale ?? undefined;
  const col = (kind: ColumnKind, sqlType: string, convert: (v: unknown) => SourceValue): SnowflakeColumn => ({ name: meta.name, kind, sqlType, convert });
  switch (type) {
    case 'fixed':
      if (!s) return col('integer', `NUMBER(${p ?? 38},0)`, integerValue);
      return col('decimal', `NUMBER(${p ?? 38},${s})`, (v) => (isNullText(v) ? null : String(v)));
    case 'real':
      return col('float', 'FLOAT', floatValue);
    case 'text':
      return col('text', 'VARCHAR', (v) => v as string);
    case 'boolean':
      return col('boolean', 'BOOLEAN', (v) => (typeof v === 'boolean' ? v : String(v) === '1' || String(v).toUpperCase() === 'TRUE'));
    case 'date':
      return col('date', 'DATE', (v) => formatEpochNanos((v as SfDateLike).getEpochSeconds(), 0, 6).slice(0, 10));
    case 'time':
      return col('time', `TIME(${s ?? 9})`, (v) => String(v));
    case 'timestamp_ntz':
    case 'timestamp_ltz':
    case 'timestamp_tz': {
      const digits = timestampDigits(s);
      const zoned = type !== 'timestamp_ntz';
      return col(zoned ? 'timestamp_tz' : 'timestamp_ntz', `${type.toUpperCase()}(${s ?? 9})`, (v) => {
        const d = v as SfDateLike;
        const text = formatEpochNanos(d.getEpochSeconds(), d.getNanoSeconds(), digits);
        return zoned ? `${text}Z` : text;
      });
    }
    case 'variant':
    case 'object':
    case 'array':
    case 'map':
      return col('json', type.toUpperCase(), jsonText);
    case 'binary':
      return col('binary', 'BINARY', (v) => (Buffer.isBuffer(v) ? v.toString('hex') : String(v).toLowerCase()));
    default:
      return col('other', type.toUpperCase(), (v) => (typeof v === 'string' ? v : jsonText(v)));
  }
}

/** Native types the driver must hand over as text so that nothing is rounded or re-serialised. */
const FETCH_AS_STRING = ['Number', 'JSON', 'Object', 'Array'] as unknown as snowflake.DataType[];

// --- errors -------------------------------------------------------------------------------------------

/** Snowflake error codes (server side) that a retry will not fix: credentials, grants, missing objects, SQL. */
const LOGIN_REFUSED = /^390(1\d\d|2\d\d|3\d\d)$/; // 3901xx/3902xx/3903xx: login refused (credentials, user, role, key)
/** Session gone or token expired (390104 "must login again", 390112/390114 expired): a new session fixes it. */
const LOGIN_RETRYABLE = new Set(['390104', '390112', '390114']);
const NOT_FOUND_CODES = new Set(['002003', '002043', '000904', '002140', '002141', '090105', '090106', '003001']);
/** Warehouse unavailable (suspended, resuming, quota reached, none usable): retried. */
const WAREHOUSE_CODES = new Set(['000606', '000625', '000630', '000631', '000604', '000605']);

interface DriverError {
  name?: string;
  code?: string | number;
  sqlState?: string;
  message?: string;
  cause?: { code?: string; message?: string };
}

/** `error.code` as Snowflake's six-digit text (`2003` -> `002003`). */
function codeText(e: DriverError): string {
  if (e.code === undefined || e.code === null) return '';
  const s = String(e.code);
  return /^\d+$/.test(s) ? s.padStart(6, '0') : s;
}

/** A retryable failure: retrying (Temporal's activity retry) is expected to succeed eventually. */
export class SnowflakeUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnowflakeUnavailableError';
  }
}

/**
 * Classifies a driver error into a non-retryable `SourceError` (wrong credentials, missing grants,
 * missing table or column, bad SQL) or a retryable `SnowflakeUnavailableError` (network, warehouse
 * suspended or resuming, expired session, statement timeout, anything unrecognised). Messages name
 * the account and what was being done, never a secret.
 * @param what e.g. `connecting to Snowflake account xy12345 as DWH_IMPORT`, `reading EVENTS.ORDERS`
 */
export function classifySnowflakeError(err: unknown, what: string): SourceError | SnowflakeUnavailableError {
  const e = (err ?? {}) as DriverError;
  const code = codeText(e);
  const state = e.sqlState ?? '';
  const msg = (e.message ?? String(err)).replace(/\s*\n\s*/g, ' ').trim().replace(/\.+$/, '');
  const detail = code && !msg.includes(code) ? `${code}${state ? ` (${state})` : ''}: ${msg}` : msg;
  if (LOGIN_RETRYABLE.has(code)) return new SnowflakeUnavailableError(`${what}: the session expired (${detail}); retrying with a new session`);
  if (LOGIN_REFUSED.test(code)) {
    return new SourceError(`${what}: Snowflake refused the login (${detail}). Check user, role, and the password or key named in the connection file's auth section`);
  }
  if (NOT_FOUND_CODES.has(code) || state === '42S02' || state === '42S22' || state === '42501') {
    return new SourceError(`${what}: ${detail}. Check the table and column names in the sync and the role's grants`);
  }
  if (WAREHOUSE_CODES.has(code) || state.startsWith('57')) {
    return new SnowflakeUnavailableError(`${what}: the warehouse is not available (${detail}); will retry`);
  }
  if (e.name === 'NetworkError' || e.name === 'RequestFailedError' || state.startsWith('08') || /^40[12]\d\d\d$/.test(code)) {
    const cause = e.cause?.code ?? e.cause?.message;
    return new SnowflakeUnavailableError(`${what}: network error (${detail}${cause ? `; ${cause}` : ''}); will retry`);
  }
  if (state.startsWith('42') || code === '001003' || code === '001007' || code === '002140') {
    return new SourceError(`${what}: ${detail}`);
  }
  return new SnowflakeUnavailableError(`${what}: ${detail}`);
}

// --- connection ---------------------------------------------------------------------------------------

/**
 * Driver connection options for the configuration, with the secret read now from the environment
 * variable or key file the configuration names. The result holds the secret: never log it.
 * @throws SourceError when the variable is unset, the key file is unreadable or its passphrase wrong.
 */
export function snowflakeConnectionOptions(conn: SnowflakeConnectionConfig, env: NodeJS.ProcessEnv = process.env): snowflake.ConnectionOptions {
  const opts: snowflake.ConnectionOptions = {
    account: conn.account,
    username: conn.user,
    // Fail fast and let the activity's retry policy retry (the driver's own login retries last minutes).
    sfRetryMaxLoginRetries: 2,
    rowMode: 'array',
    // Numbers fetched as text would otherwise read NULL as the string "NULL" (the driver's default).
    representNullAsStringNull: false,
  };
  if (conn.role) opts.role = conn.role;
  if (conn.warehouse) opts.warehouse = conn.warehouse;
  if (conn.database) opts.database = conn.database;
  if (conn.schema) opts.schema = conn.schema;
  if (conn.access_url) opts.accessUrl = conn.access_url;
  const auth = conn.auth ?? {};
  if (auth.private_key_file) {
    let pem: Buffer;
    try {
      pem = readFileSync(auth.private_key_file);
    } catch (e) {
      throw new SourceError(`cannot read the Snowflake private key file ${auth.private_key_file} (auth.private_key_file): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let passphrase: string | undefined;
    if (auth.private_key_passphrase_env) {
      passphrase = env[auth.private_key_passphrase_env];
      if (passphrase === undefined) {
        throw new SourceError(`environment variable ${auth.private_key_passphrase_env} (auth.private_key_passphrase_env) is not set on this worker`);
      }
    }
    let key: string;
    try {
      key = createPrivateKey({ key: pem, format: 'pem', passphrase }).export({ format: 'pem', type: 'pkcs8' }).toString();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      const reason =
        passphrase === undefined && /INTERRUPTED|PASSPHRASE/.test(code)
          ? 'the key is encrypted: name the variable holding its passphrase in auth.private_key_passphrase_env'
          : /BAD_DECRYPT/.test(code)
            ? `wrong passphrase in ${auth.private_key_passphrase_env}`
            : 'not a PEM private key (PKCS#8 or PKCS#1)';
      throw new SourceError(`cannot use the Snowflake private key file ${auth.private_key_file}: ${reason}`);
    }
    opts.authenticator = 'SNOWFLAKE_JWT';
    opts.privateKey = key;
  } else if (auth.password_env) {
    const password = env[auth.password_env];
    if (password === undefined || password === '') {
      throw new SourceError(`environment variable ${auth.password_env} (auth.password_env) is not set on this worker`);
    }
    opts.password = password;
  } else {
    throw new SourceError('the Snowflake connection needs auth.password_env or auth.private_key_file');
  }
  return opts;
}

function describeTarget(conn: SnowflakeConnectionConfig): string {
  return `Snowflake account ${conn.account} as ${conn.user}${conn.role ? ` (role ${conn.role})` : ''}`;
}

// --- session reuse ------------------------------------------------------------------------------------
//
// A worker opens a reader per activity (one per page). A Snowflake login costs a round trip or more (a
// JWT signature, the authenticator), so a closed reader's session is kept for the next reader of the
// same connection config for a short while instead of being logged out. Idle sessions are logged out
// after IDLE_MS by an unref'd timer (an idle session holds no socket that keeps the process alive), and a
// session that saw any failure is never reused.

/** How long an idle session is kept for reuse (ms). */
const IDLE_MS = 60_000;
/** Idle sessions kept per connection config. */
const MAX_IDLE = 4;
const idleSessions = new Map<string, { connection: snowflake.Connection; since: number }[]>();
let sweeper: NodeJS.Timeout | undefined;

function sessionKey(conn: SnowflakeConnectionConfig): string {
  // names of variables and files only: no secret in the key
  return JSON.stringify(conn);
}

function destroy(connection: snowflake.Connection): Promise<void> {
  return new Promise((resolve) => connection.destroy(() => resolve()));
}

function takeIdle(key: string): snowflake.Connection | undefined {
  const list = idleSessions.get(key);
  while (list && list.length) {
    const { connection, since } = list.pop()!;
    if (connection.isUp() && Date.now() - since < IDLE_MS) return connection;
    void destroy(connection);
  }
  return undefined;
}

function putIdle(key: string, connection: snowflake.Connection): Promise<void> {
  const list = idleSessions.get(key) ?? [];
  if (!connection.isUp() || list.length >= MAX_IDLE) return destroy(connection);
  list.push({ connection, since: Date.now() });
  idleSessions.set(key, list);
  if (!sweeper) {
    sweeper = setInterval(() => {
      const now = Date.now();
      for (const [k, l] of idleSessions) {
        const keep = l.filter((e) => now - e.since < IDLE_MS);
        for (const e of l) if (!keep.includes(e)) void destroy(e.connection);
        if (keep.length) idleSessions.set(k, keep);
        else idleSessions.delete(k);
      }
      if (idleSessions.size === 0 && sweeper) {
        clearInterval(sweeper);
        sweeper = undefined;
      }
    }, Math.min(IDLE_MS, 10_000));
    sweeper.unref();
  }
  return Promise.resolve();
}

/** Logs out every idle Snowflake session of this process (call on worker shutdown). */
export async function closeIdleSnowflakeSessions(): Promise<void> {
  const all = [...idleSessions.values()].flat();
  idleSessions.clear();
  if (sweeper) clearInterval(sweeper);
  sweeper = undefined;
  await Promise.all(all.map((e) => destroy(e.connection)));
}

/**
 * Connects to Snowflake, or reuses an idle session of the same connection config (see above).
 * @throws SourceError for refused credentials or an unusable key or secret (non-retryable);
 *   SnowflakeUnavailableError for network failures (retryable).
 */
export async function openSnowflakeReader(conn: SnowflakeConnectionConfig): Promise<SnowflakeReader> {
  const key = sessionKey(conn);
  const reused = takeIdle(key);
  if (reused) return new SnowflakeReader(reused, conn, key);
  const opts = snowflakeConnectionOptions(conn);
  const connection = snowflake.createConnection(opts);
  const what = `connecting to ${describeTarget(conn)}`;
  // `connectAsync()` resolves even when the login fails (the error goes only to its callback).
  await new Promise<void>((resolve, reject) => connection.connect((err) => (err ? reject(classifySnowflakeError(err, what)) : resolve())));
  try {
    await new Promise<void>((resolve, reject) =>
      connection.execute({ sqlText: SESSION_SETUP, complete: (err) => (err ? reject(classifySnowflakeError(err, what)) : resolve()) }),
    );
  } catch (e) {
    await destroy(connection);
    throw e;
  }
  return new SnowflakeReader(connection, conn, key);
}

/**
 * Session parameters every reader session sets, whatever the account or user defaults say:
 * bound literals are ISO 8601 (`AUTO` input formats read them; an account-wide custom
 * TIMESTAMP_INPUT_FORMAT would otherwise reject them), UTC as the session zone (nothing depends on it:
 * literals carry their zone, values are read by epoch; it only makes the session predictable), TIME
 * values with their fraction, VARIANT text that is strict JSON (no NaN or undefined), and a query tag
 * that shows this tool's queries in QUERY_HISTORY.
 */
export const SESSION_SETUP =
  "ALTER SESSION SET TIMEZONE = 'UTC' TIMESTAMP_INPUT_FORMAT = 'AUTO' DATE_INPUT_FORMAT = 'AUTO' " +
  "TIME_OUTPUT_FORMAT = 'HH24:MI:SS.FF9' STRICT_JSON_OUTPUT = TRUE QUERY_TAG = 'dwh-import'";

// --- reader -------------------------------------------------------------------------------------------

interface Executed {
  columns: SnowflakeColumn[];
  stream: Readable;
}

/** A Snowflake session implementing `WarehouseReader`. */
export class SnowflakeReader implements WarehouseReader {
  readonly dialect = 'snowflake';

  /** Set when a statement failed: the session is then logged out on close, never reused. */
  private failed = false;
  private closed = false;

  constructor(
    private readonly connection: snowflake.Connection,
    private readonly conn: SnowflakeConnectionConfig,
    private readonly key: string,
  ) {}

  /** Runs a statement with streamed results. */
  private execute(q: BoundSql, what: string): Promise<Executed> {
    return new Promise((resolve, reject) => {
      this.connection.execute({
        sqlText: q.sql,
        binds: q.params,
        streamResult: true,
        fetchAsString: FETCH_AS_STRING,
        rowMode: 'array',
        complete: (err, stmt) => {
          if (err) {
            this.failed = true;
            return reject(classifySnowflakeError(err, what));
          }
          const meta = (stmt as snowflake.RowStatement).getColumns() ?? [];
          const columns = meta.map((c) =>
            snowflakeColumn({ name: c.getName(), type: c.getType(), precision: c.getPrecision(), scale: c.getScale() }),
          );
          resolve({ columns, stream: (stmt as snowflake.RowStatement).streamRows() });
        },
      });
    });
  }

  /**
   * Runs a query and yields its rows converted, in chunks of at most `chunkRows` (streamed: the driver
   * fetches result chunks as they are consumed).
   */
  private async *rowChunks(q: BoundSql, what: string, chunkRows: number, started?: Executed): AsyncGenerator<SourceValue[][]> {
    const { columns, stream } = started ?? (await this.execute(q, what));
    const conv = columns.map((c) => c.convert);
    const n = columns.length;
    let rows: SourceValue[][] = [];
    try {
      for await (const raw of stream as AsyncIterable<unknown[]>) {
        const row: SourceValue[] = new Array(n);
        for (let i = 0; i < n; i++) {
          const v = raw[i];
          row[i] = v === null || v === undefined ? null : conv[i](v);
        }
        rows.push(row);
        if (rows.length >= chunkRows) {
          yield rows;
          rows = [];
        }
      }
    } catch (e) {
      this.failed = true;
      if (e instanceof SourceError || e instanceof SnowflakeUnavailableError) throw e;
      throw classifySnowflakeError(e, what);
    } finally {
      // Stopped early (an error while the rows were used): release the driver's stream.
      if (!stream.readableEnded) stream.destroy();
    }
    if (rows.length) yield rows;
  }

  /** Runs a query and converts every row. */
  private async query(q: BoundSql, what: string): Promise<{ columns: SnowflakeColumn[]; rows: SourceValue[][] }> {
    const started = await this.execute(q, what);
    const rows: SourceValue[][] = [];
    for await (const chunk of this.rowChunks(q, what, DEFAULT_CHUNK_ROWS, started)) for (const row of chunk) rows.push(row);
    return { columns: started.columns, rows };
  }

  /**
   * Columns of a table or view in table order, from the result metadata of `SELECT * ... LIMIT 0`
   * (works for tables, views and secure views alike, with exact names and types).
   * @throws SourceError when the table does not exist or the role may not read it.
   */
  async describe(table: string): Promise<SourceColumn[]> {
    let ref: string;
    try {
      ref = snowflakeDialect.quoteTable(table);
    } catch (e) {
      throw new SourceError(`invalid table name ${table}: ${(e as Error).message}`);
    }
    const { columns } = await this.query({ sql: `SELECT * FROM ${ref} LIMIT 0`, params: [] }, `describing ${table} in ${describeTarget(this.conn)}`);
    return columns.map(({ name, kind, sqlType }) => ({ name, kind, sqlType }));
  }

  async readPage(req: PageRequest): Promise<SourcePage> {
    const what = `reading ${req.table} in ${describeTarget(this.conn)}`;
    const page = await readKeysetPage(snowflakeDialect, req, async (q) => (await this.query(q, what)).rows);
    return { columns: req.columns, rows: page.rows, more: page.more };
  }

  /**
   * The page's bounds first (`keysetPageBounds`), then its rows through the driver's row stream
   * (`streamResult: true`), converted and handed over in chunks of `chunkRows`.
   */
  async streamPage(req: PageRequest, opts: { chunkRows?: number } = {}): Promise<PageStream> {
    const what = `reading ${req.table} in ${describeTarget(this.conn)}`;
    const chunkRows = Math.max(1, Math.floor(opts.chunkRows ?? DEFAULT_CHUNK_ROWS));
    const bounds = await keysetPageBounds(snowflakeDialect, req, async (q) => (await this.query(q, what)).rows);
    if (!bounds) return emptyStream(req.columns);
    const q = pageRangeQuery(snowflakeDialect, req, bounds.last);
    const started = await this.execute(q, what);
    const chunks = this.rowChunks(q, what, chunkRows, started);
    return {
      columns: req.columns,
      more: bounds.more,
      [Symbol.asyncIterator]: () => chunks,
      close: async () => {
        await chunks.return(undefined);
        if (!started.stream.readableEnded) started.stream.destroy();
      },
    };
  }

  async readNullChange(req: NullChangeRequest) {
    const what = `reading ${req.table} in ${describeTarget(this.conn)}`;
    const count = await this.query(nullChangeCountQuery(snowflakeDialect, req), what);
    const total = Number(count.rows[0]?.[0] ?? 0);
    const rows = total === 0 ? [] : (await this.query(nullChangeQuery(snowflakeDialect, req), what)).rows;
    return { page: { columns: req.columns, rows }, total };
  }

  async countRows(req: CountRequest): Promise<number> {
    const r = await this.query(countQuery(snowflakeDialect, req), `counting rows of ${req.table} in ${describeTarget(this.conn)}`);
    return Number(r.rows[0]?.[0] ?? 0);
  }

  /** Returns the session for reuse by the next reader, or logs it out after a failure. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.failed) await destroy(this.connection);
    else await putIdle(this.key, this.connection);
  }
}

/**
 * SQL for keyset pages over the compound cursor, shared by every warehouse dialect.
 * Values are always bound parameters cast to the column's declared type; identifiers are quoted
 * by the dialect.
 */
import type { PageRequest, SourceColumn } from '../activities/warehouse/types.ts';
import type { Cursor } from './cursor.ts';

/** What differs between warehouses. */
export interface SqlDialect {
  /** Quotes one identifier exactly as the warehouse names it (case preserved). */
  quoteIdent(name: string): string;
  /** Quotes a `db.schema.table` reference (see `splitTableRef`). */
  quoteTable(ref: string): string;
  /** A bound parameter cast to `sqlType`, e.g. `CAST(? AS TIMESTAMP)`. */
  param(sqlType: string): string;
}

/** A statement with positional parameters (bound in order, all strings). */
export interface BoundSql {
  sql: string;
  params: string[];
}

/**
 * Splits `db.schema.table` into parts; a part may be double-quoted to hold dots or mixed case
 * (`"My DB".sales."Orders.2024"`), with `""` for a literal quote.
 * @throws Error on an empty part or an unterminated quote.
 */
export function splitTableRef(ref: string): { name: string; quoted: boolean }[] {
  const parts: { name: string; quoted: boolean }[] = [];
  let i = 0;
  while (i <= ref.length) {
    if (ref[i] === '"') {
      let name = '';
      i++;
      for (;;) {
        if (i >= ref.length) throw new Error(`unterminated quote in table name ${ref}`);
        if (ref[i] === '"') {
          if (ref[i + 1] === '"') {
            name += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        name += ref[i++];
      }
      parts.push({ name, quoted: true });
    } else {
      let j = ref.indexOf('.', i);
      if (j === -1) j = ref.length;
      const name = ref.slice(i, j).trim();
      if (!name) throw new Error(`empty part in table name "${ref}"`);
      parts.push({ name, quoted: false });
      i = j;
    }
    if (i >= ref.length) break;
    if (ref[i] !== '.') throw new Error(`unexpected character after quoted name in "${ref}"`);
    i++;
  }
  if (parts.length === 0 || parts.length > 3) throw new Error(`table name "${ref}" must be table, schema.table or database.schema.table`);
  return parts;
}

/**
 * Rows after `after` in cursor order. Written with the change column's range first
 * (`chg >= t AND (chg > t OR key > k)`) so that warehouses can prune by it (zone maps, micro-partitions).
 */
function cursorPredicate(d: SqlDialect, req: PageRequest, after: Cursor, params: string[]): string {
  const chg = d.quoteIdent(req.change.name);
  const t = d.param(req.change.sqlType);
  if (after.inclusive) {
    params.push(after.ts);
    return `${chg} >= ${t}`;
  }
  if (!req.tieBreaker) {
    params.push(after.ts);
    return `${chg} > ${t}`;
  }
  const key = d.quoteIdent(req.tieBreaker.name);
  if (after.key === null) {
    params.push(after.ts, after.ts);
    return `${chg} >= ${t} AND (${chg} > ${t} OR ${key} IS NOT NULL)`;
  }
  params.push(after.ts, after.ts, after.key);
  return `${chg} >= ${t} AND (${chg} > ${t} OR ${key} > ${d.param(req.tieBreaker.sqlType)})`;
}

/** Rows at or before `last` in cursor order (NULL keys sort first within a timestamp). */
function uptoPredicate(d: SqlDialect, req: PageRequest, last: Cursor, params: string[]): string {
  const chg = d.quoteIdent(req.change.name);
  const t = d.param(req.change.sqlType);
  if (!req.tieBreaker) {
    params.push(last.ts);
    return `${chg} <= ${t}`;
  }
  const key = d.quoteIdent(req.tieBreaker.name);
  if (last.key === null) {
    params.push(last.ts, last.ts);
    return `${chg} <= ${t} AND (${chg} < ${t} OR ${key} IS NULL)`;
  }
  params.push(last.ts, last.ts, last.key);
  return `${chg} <= ${t} AND (${chg} < ${t} OR ${key} IS NULL OR ${key} <= ${d.param(req.tieBreaker.sqlType)})`;
}

function selectList(d: SqlDialect, cols: SourceColumn[]): string {
  return cols.map((c) => d.quoteIdent(c.name)).join(', ');
}

/** Inclusive-exclusive range on the event timestamp (backfill), as canonical literals of that column. */
export interface EventRange {
  column: SourceColumn;
  from?: string;
  to?: string;
}

function eventRangePredicates(d: SqlDialect, r: EventRange | undefined, params: string[]): string[] {
  const out: string[] = [];
  if (!r) return out;
  const col = d.quoteIdent(r.column.name);
  if (r.from !== undefined) {
    out.push(`${col} >= ${d.param(r.column.sqlType)}`);
    params.push(r.from);
  }
  if (r.to !== undefined) {
    out.push(`${col} < ${d.param(r.column.sqlType)}`);
    params.push(r.to);
  }
  return out;
}

/** What `countQuery` counts: as a page request, without columns and limit; `until` may be left open. */
export type CountRequest = Omit<PageRequest, 'columns' | 'limit' | 'until'> & { until?: string };

function pageWhere(d: SqlDialect, req: CountRequest, params: string[]): string {
  const chg = d.quoteIdent(req.change.name);
  const where = [`${chg} IS NOT NULL`];
  if (req.until !== undefined) {
    where.push(`${chg} <= ${d.param(req.change.sqlType)}`);
    params.push(req.until);
  }
  if (req.after) where.push(cursorPredicate(d, req as PageRequest, req.after, params));
  where.push(...eventRangePredicates(d, req.eventRange, params));
  return where.join(' AND ');
}

/**
 * The page query: rows with cursor > `after`, change timestamp <= `until`, ordered by the cursor
 * (NULL keys first within a timestamp), at most `limit` rows.
 */
export function pageQuery(d: SqlDialect, req: PageRequest): BoundSql {
  const params: string[] = [];
  const chg = d.quoteIdent(req.change.name);
  const where = pageWhere(d, req, params);
  const order = req.tieBreaker ? `${chg}, ${d.quoteIdent(req.tieBreaker.name)} NULLS FIRST` : chg;
  return {
    sql: `SELECT ${selectList(d, req.columns)} FROM ${d.quoteTable(req.table)} WHERE ${where} ORDER BY ${order} LIMIT ${Math.floor(req.limit)}`,
    params,
  };
}

/** How many rows a run from `req.after` up to `req.until` (or without end) would read (same predicate as `pageQuery`). */
export function countQuery(d: SqlDialect, req: CountRequest): BoundSql {
  const params: string[] = [];
  return { sql: `SELECT COUNT(*) AS n FROM ${d.quoteTable(req.table)} WHERE ${pageWhere(d, req, params)}`, params };
}

/** What a NULL-change-timestamp query asks for (see `WarehouseReader.readNullChange`). */
export interface NullChangeRequest {
  table: string;
  columns: SourceColumn[];
  change: SourceColumn;
  limit: number;
  /** Only rows whose event time is in this range (backfill). */
  eventRange?: EventRange;
}

/** Rows whose change timestamp is NULL (they have no place in the cursor order and are rejected). */
export function nullChangeQuery(d: SqlDialect, req: NullChangeRequest): BoundSql {
  const params: string[] = [];
  const where = [`${d.quoteIdent(req.change.name)} IS NULL`, ...eventRangePredicates(d, req.eventRange, params)];
  return {
    sql: `SELECT ${selectList(d, req.columns)} FROM ${d.quoteTable(req.table)} WHERE ${where.join(' AND ')} LIMIT ${Math.floor(req.limit)}`,
    params,
  };
}

/** How many rows have a NULL change timestamp (within the event range, when given). */
export function nullChangeCountQuery(d: SqlDialect, req: Omit<NullChangeRequest, 'columns' | 'limit'>): BoundSql {
  const params: string[] = [];
  const where = [`${d.quoteIdent(req.change.name)} IS NULL`, ...eventRangePredicates(d, req.eventRange, params)];
  return { sql: `SELECT COUNT(*) AS n FROM ${d.quoteTable(req.table)} WHERE ${where.join(' AND ')}`, params };
}

/** The cursor position of a row, given the indexes of the change and tie-break columns in it. */
export function cursorOf(row: readonly unknown[], changeIdx: number, keyIdx: number | undefined): Cursor {
  const key = keyIdx === undefined ? null : row[keyIdx];
  return { ts: String(row[changeIdx]), key: key === null || key === undefined ? null : String(key) };
}

/** Alias of the row count in `pageBoundsQuery` (distinct from any cursor column's name: those are quoted). */
const BOUNDS_COUNT = 'dwh_import_page_rows';

/**
 * The first step of a page: the cursor of the `limit`-th next row (or of the last one, when fewer are
 * left) and how many rows there are up to it, as one row `(change[, key], count)`, or no row at the
 * end. Only the cursor columns are read (cheap even over a view whose other columns are expensive to
 * compute, since the warehouse prunes unused projections), and only one row comes back whatever the
 * page size.
 */
export function pageBoundsQuery(d: SqlDialect, req: PageRequest): BoundSql {
  const cursorColumns = req.tieBreaker ? [req.change, req.tieBreaker] : [req.change];
  const inner = resumesInsideGroup(req) ? splitPageQuery(d, { ...req, columns: cursorColumns }) : pageQuery(d, { ...req, columns: cursorColumns });
  const chg = d.quoteIdent(req.change.name);
  const order = req.tieBreaker ? `${chg} DESC, ${d.quoteIdent(req.tieBreaker.name)} DESC NULLS LAST` : `${chg} DESC`;
  return {
    sql: `SELECT ${selectList(d, cursorColumns)}, COUNT(*) OVER () AS ${BOUNDS_COUNT} FROM (${inner.sql}) AS page_bounds ORDER BY ${order} LIMIT 1`,
    params: inner.params,
  };
}

/** True when the page resumes inside a group of rows sharing `after.ts`, after the key `after.key`. */
function resumesInsideGroup(req: PageRequest): boolean {
  return !!req.tieBreaker && !!req.after && !req.after.inclusive && req.after.key !== null;
}

/**
 * `pageQuery` for a page that resumes inside a group of equal change timestamps, written as two
 * limited branches: the rest of that group (`change = ts AND key > k`, ordered by the key) and the later
 * groups (`change > ts`). The keyset predicate `change >= ts AND (change > ts OR key > k)` is right but
 * gives the warehouse nothing to prune by inside one timestamp, so on a table loaded in one transaction
 * (every row sharing its change timestamp) each page's first step scanned every remaining row: time
 * quadratic in the table's size, and DuckDB's memory for the scan growing with it (measured on the
 * 10x Online Retail table: the worker's RSS 400 MB on the first pages, 300 MB on the last). The first
 * branch's plain `key > k` is pruned by zone maps / micro-partitions when keys follow the load order.
 */
function splitPageQuery(d: SqlDialect, req: PageRequest): BoundSql {
  const params: string[] = [];
  const chg = d.quoteIdent(req.change.name);
  const key = d.quoteIdent(req.tieBreaker!.name);
  const t = d.param(req.change.sqlType);
  const k = d.param(req.tieBreaker!.sqlType);
  const cols = selectList(d, req.columns);
  const table = d.quoteTable(req.table);
  const limit = Math.floor(req.limit);
  const rest = `${pageWhere(d, { ...req, after: null }, params)} AND ${chg} = ${t} AND ${key} > ${k}`;
  params.push(req.after!.ts, req.after!.key!);
  const later = `${pageWhere(d, { ...req, after: null }, params)} AND ${chg} > ${t}`;
  params.push(req.after!.ts);
  const order = `${chg}, ${key} NULLS FIRST`;
  return {
    sql:
      `SELECT ${cols} FROM (` +
      `SELECT * FROM (SELECT ${cols} FROM ${table} WHERE ${rest} ORDER BY ${key} LIMIT ${limit}) AS rest_of_group ` +
      `UNION ALL SELECT * FROM (SELECT ${cols} FROM ${table} WHERE ${later} ORDER BY ${order} LIMIT ${limit}) AS later_groups` +
      `) AS resumed ORDER BY ${order} LIMIT ${limit}`,
    params,
  };
}

/**
 * The second step of a page: every row with `after` < cursor <= `last`, in cursor order, without a
 * limit. It holds the whole group of rows sharing the last cursor value, so a page never splits rows
 * with an identical cursor (equal timestamps in group mode, equal or NULL keys).
 *
 * When the page lies inside one change timestamp (a table loaded in one transaction, where every row
 * shares it), the tie-break range is also written as plain conjuncts (`key > ? AND key <= ?`), which
 * the warehouse can prune by (zone maps, micro-partitions): otherwise each page would scan every
 * remaining row of the group, and a large table would read in time quadratic in its size.
 */
export function pageRangeQuery(d: SqlDialect, req: PageRequest, last: Cursor): BoundSql {
  const params: string[] = [];
  const chg = d.quoteIdent(req.change.name);
  let where = `${pageWhere(d, req, params)} AND ${uptoPredicate(d, req, last, params)}`;
  const a = req.after;
  if (req.tieBreaker && a && !a.inclusive && a.key !== null && last.key !== null && a.ts === last.ts) {
    const key = d.quoteIdent(req.tieBreaker.name);
    const k = d.param(req.tieBreaker.sqlType);
    where += ` AND ${key} > ${k} AND ${key} <= ${k}`;
    params.push(a.key, last.key);
  }
  const order = req.tieBreaker ? `${chg}, ${d.quoteIdent(req.tieBreaker.name)} NULLS FIRST` : chg;
  return { sql: `SELECT ${selectList(d, req.columns)} FROM ${d.quoteTable(req.table)} WHERE ${where} ORDER BY ${order}`, params };
}

/** Where a page ends, from `pageBoundsQuery`. */
export interface PageBounds {
  /** Cursor of the page's last row as the first step saw it (the page reads every row up to it). */
  last: Cursor;
  /** False when fewer than `limit` rows were left: the page reaches the end of what the request covers. */
  more: boolean;
}

/**
 * Runs `pageBoundsQuery` through `exec` (which gets the cursor columns and a count column to convert).
 * @returns null when no row is left.
 */
export async function keysetPageBounds<R extends readonly unknown[]>(
  d: SqlDialect,
  req: PageRequest,
  exec: (q: BoundSql, columns: SourceColumn[]) => Promise<R[]>,
): Promise<PageBounds | null> {
  const cursorColumns = req.tieBreaker ? [req.change, req.tieBreaker] : [req.change];
  const count: SourceColumn = { name: BOUNDS_COUNT, kind: 'integer', sqlType: 'BIGINT' };
  const rows = await exec(pageBoundsQuery(d, req), [...cursorColumns, count]);
  if (rows.length === 0) return null;
  const row = rows[0];
  return { last: cursorOf(row, 0, req.tieBreaker ? 1 : undefined), more: Number(row[cursorColumns.length]) >= req.limit };
}

/** A page of rows and whether more rows may follow it up to the run's bound. */
export interface KeysetPage<R> {
  rows: R[];
  /** False when the page reached the end (fewer than `limit` rows were left). */
  more: boolean;
}

/**
 * Reads one keyset page through `exec`, in two steps: `pageBoundsQuery` finds the cursor of the
 * `limit`-th next row (reading the cursor columns only), then `pageRangeQuery` reads the full rows up
 * to and including it. The page may hold more than `limit` rows (the rest of a group of identical
 * cursor values, or rows inserted between the two steps), never fewer unless the end was reached.
 * (Readers stream the second step instead, chunk by chunk: `WarehouseReader.streamPage`.)
 */
export async function readKeysetPage<R extends readonly unknown[]>(
  d: SqlDialect,
  req: PageRequest,
  exec: (q: BoundSql, columns: SourceColumn[]) => Promise<R[]>,
): Promise<KeysetPage<R>> {
  const bounds = await keysetPageBounds(d, req, exec);
  if (!bounds) return { rows: [], more: false };
  const rows = await exec(pageRangeQuery(d, req, bounds.last), req.columns);
  return { rows, more: bounds.more };
}

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

/**
 * The first step of a page: only the cursor columns of the next `limit` rows (cheap even over a view
 * whose other columns are expensive to compute, since the warehouse prunes unused projections).
 */
export function pageBoundsQuery(d: SqlDialect, req: PageRequest): BoundSql {
  const cursorColumns = req.tieBreaker ? [req.change, req.tieBreaker] : [req.change];
  return pageQuery(d, { ...req, columns: cursorColumns });
}

/**
 * The second step of a page: every row with `after` < cursor <= `last`, in cursor order, without a
 * limit. It holds the whole group of rows sharing the last cursor value, so a page never splits rows
 * with an identical cursor (equal timestamps in group mode, equal or NULL keys).
 */
export function pageRangeQuery(d: SqlDialect, req: PageRequest, last: Cursor): BoundSql {
  const params: string[] = [];
  const chg = d.quoteIdent(req.change.name);
  const where = `${pageWhere(d, req, params)} AND ${uptoPredicate(d, req, last, params)}`;
  const order = req.tieBreaker ? `${chg}, ${d.quoteIdent(req.tieBreaker.name)} NULLS FIRST` : chg;
  return { sql: `SELECT ${selectList(d, req.columns)} FROM ${d.quoteTable(req.table)} WHERE ${where} ORDER BY ${order}`, params };
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
 */
export async function readKeysetPage<R extends readonly unknown[]>(
  d: SqlDialect,
  req: PageRequest,
  exec: (q: BoundSql, columns: SourceColumn[]) => Promise<R[]>,
): Promise<KeysetPage<R>> {
  const cursorColumns = req.tieBreaker ? [req.change, req.tieBreaker] : [req.change];
  const bounds = await exec(pageBoundsQuery(d, req), cursorColumns);
  if (bounds.length === 0) return { rows: [], more: false };
  const last = cursorOf(bounds[bounds.length - 1], 0, req.tieBreaker ? 1 : undefined);
  const rows = await exec(pageRangeQuery(d, req, last), req.columns);
  return { rows, more: bounds.length >= req.limit };
}

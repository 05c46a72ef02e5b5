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
    return `(${chg} > ${t} OR (${chg} = ${t} AND ${key} IS NOT NULL))`;
  }
  params.push(after.ts, after.ts, after.key);
  return `(${chg} > ${t} OR (${chg} = ${t} AND ${key} > ${d.param(req.tieBreaker.sqlType)}))`;
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

/**
 * Every row sharing the given cursor value: the rest of the group a full page ended in, so that a
 * page never splits rows with an identical cursor (equal timestamps in group mode, equal or NULL keys).
 */
export function groupQuery(d: SqlDialect, req: PageRequest, last: Cursor): BoundSql {
  const params: string[] = [last.ts];
  const chg = d.quoteIdent(req.change.name);
  const where = [`${chg} = ${d.param(req.change.sqlType)}`];
  if (req.tieBreaker) {
    const key = d.quoteIdent(req.tieBreaker.name);
    if (last.key === null) where.push(`${key} IS NULL`);
    else {
      where.push(`${key} = ${d.param(req.tieBreaker.sqlType)}`);
      params.push(last.key);
    }
  }
  where.push(...eventRangePredicates(d, req.eventRange, params));
  return { sql: `SELECT ${selectList(d, req.columns)} FROM ${d.quoteTable(req.table)} WHERE ${where.join(' AND ')}`, params };
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
 * Reads one keyset page through `exec` and completes it when it came back full: the trailing rows that
 * share the last row's cursor are replaced by the whole group (`groupQuery`), so no group of identical
 * cursor values is ever split across pages. The returned page may hold more than `req.limit` rows.
 */
export async function readKeysetPage<R extends readonly unknown[]>(
  d: SqlDialect,
  req: PageRequest,
  exec: (q: BoundSql) => Promise<R[]>,
): Promise<R[]> {
  const rows = await exec(pageQuery(d, req));
  if (rows.length < req.limit || rows.length === 0) return rows;
  const changeIdx = req.columns.findIndex((c) => c.name === req.change.name);
  const keyIdx = req.tieBreaker ? req.columns.findIndex((c) => c.name === req.tieBreaker!.name) : undefined;
  const last = cursorOf(rows[rows.length - 1], changeIdx, keyIdx);
  let keep = rows.length;
  while (keep > 0 && sameCursorValue(cursorOf(rows[keep - 1], changeIdx, keyIdx), last)) keep--;
  const group = await exec(groupQuery(d, req, last));
  return rows.slice(0, keep).concat(group);
}

function sameCursorValue(a: Cursor, b: Cursor): boolean {
  return a.ts === b.ts && a.key === b.key;
}

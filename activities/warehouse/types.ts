/**
 * The warehouse-neutral shape of what readers return. Each reader converts its driver's values into
 * these kinds so that mapping, cursors and tests never depend on a particular warehouse.
 */
import type { Cursor } from '../../incremental/cursor.ts';
import type { CountRequest, EventRange, NullChangeRequest } from '../../incremental/sql.ts';

/**
 * Logical column kinds and the JS value each carries (NULL is always `null`):
 * - `text`: string
 * - `integer`: number when |v| <= 2^53 - 1, otherwise a string of decimal digits (exact)
 * - `decimal`: string, the exact decimal text (e.g. `"12.50"`)
 * - `float`: number
 * - `boolean`: boolean
 * - `timestamp_ntz`: string `YYYY-MM-DDTHH:MM:SS.ffffff` (wall clock, no zone); 9 fraction digits
 *   instead of 6 for columns more precise than microseconds (TIMESTAMP_NS, Snowflake TIMESTAMP_NTZ(9)),
 *   so that distinct change timestamps stay distinct cursors (see `incremental/cursor.ts`)
 * - `timestamp_tz`: string `YYYY-MM-DDTHH:MM:SS.ffffffZ` (the instant, in UTC; 9 digits likewise)
 * - `date`: string `YYYY-MM-DD`
 * - `time`: string `HH:MM:SS[.ffffff]`
 * - `json`: string, JSON text (JSON, VARIANT, OBJECT, ARRAY columns)
 * - `structured`: an already parsed JSON-compatible value (DuckDB LIST/STRUCT/MAP)
 * - `binary`: string, lower-case hex
 * - `other`: string, the warehouse's text form
 */
export type ColumnKind =
  | 'text'
  | 'integer'
  | 'decimal'
  | 'float'
  | 'boolean'
  | 'timestamp_ntz'
  | 'timestamp_tz'
  | 'date'
  | 'time'
  | 'json'
  | 'structured'
  | 'binary'
  | 'other';

/** A value as read; see `ColumnKind` for which JS type each kind carries. */
export type SourceValue = null | string | number | boolean | object;

/** A column of the source table or view. */
export interface SourceColumn {
  /** Exact column name as the warehouse reports it (case preserved). */
  name: string;
  kind: ColumnKind;
  /** The warehouse's declared type, e.g. `DECIMAL(12,2)`, `TIMESTAMP_NTZ(9)`; used for casts of bound parameters. */
  sqlType: string;
}

/** One page of rows: `rows[i][j]` is the value of `columns[j]`. */
export interface SourcePage {
  columns: SourceColumn[];
  rows: SourceValue[][];
  /**
   * For `readPage`: false when the page reached the end of what the request covers (fewer than
   * `limit` rows were left); a page can hold more than `limit` rows and still be the last.
   */
  more?: boolean;
}

/** What a page read asks for. Timestamps are canonical literals of the change column's kind. */
export interface PageRequest {
  table: string;
  /** Columns to select, in this order (the reader quotes them). */
  columns: SourceColumn[];
  change: SourceColumn;
  /** Tie-break column, or undefined when pages never split a group of equal change timestamps. */
  tieBreaker?: SourceColumn;
  /** Exclusive lower bound, or null for the start of the table. */
  after: Cursor | null;
  /** Inclusive upper bound of the change timestamp (settle bound or the end of a backfill range). */
  until: string;
  /** Extra inclusive-exclusive range on the event timestamp (backfill), as canonical literals. */
  eventRange?: EventRange;
  limit: number;
}

/**
 * One keyset page read as a stream of row chunks (`WarehouseReader.streamPage`), so that a page of any
 * size needs memory for one chunk at a time. Iterate it once, to the end, or call `close()`.
 */
export interface PageStream extends AsyncIterable<SourceValue[][]> {
  columns: SourceColumn[];
  /**
   * False when the page reaches the end of what the request covers (fewer than `limit` rows were left
   * when its bounds were read); known before the first chunk.
   */
  more: boolean;
  /** Releases the query early (after an error); idempotent, and a no-op once the stream was read to the end. */
  close(): Promise<void>;
}

/** A page without rows (nothing left to read). */
export function emptyStream(columns: SourceColumn[]): PageStream {
  return {
    columns,
    more: false,
    async *[Symbol.asyncIterator]() {},
    close: async () => undefined,
  };
}

/**
 * Rows per chunk of `streamPage` unless the request says otherwise. Small enough that a chunk's rows,
 * events and their intermediate values (a few KB per row) are garbage before V8's young generation
 * (16 MB) fills twice, so they die young instead of being promoted; large enough that per-chunk costs
 * (a ledger lookup, a loader call) do not count.
 */
export const DEFAULT_CHUNK_ROWS = 512;

/**
 * A warehouse connection able to describe a table and read keyset pages from it.
 * Implementations: DuckDB (`duckdb.ts`), Snowflake (`snowflake.ts`).
 */
export interface WarehouseReader {
  /** Short dialect name for messages: `duckdb` or `snowflake`. */
  readonly dialect: string;
  /**
   * Columns of a table or view, in table order.
   * @throws SourceError (non-retryable) when the table does not exist.
   */
  describe(table: string): Promise<SourceColumn[]>;
  /**
   * Rows with cursor > `after` and change timestamp <= `until`, ordered by the cursor, at most `limit`
   * rows, extended so that the last cursor value is never split across pages.
   */
  readPage(req: PageRequest): Promise<SourcePage>;
  /**
   * The same rows as `readPage`, in the same order, as chunks of at most `chunkRows` rows (default
   * `DEFAULT_CHUNK_ROWS`). The page's bounds are read before this resolves; the rows are fetched and
   * converted as the chunks are consumed.
   */
  streamPage(req: PageRequest, opts?: { chunkRows?: number }): Promise<PageStream>;
  /**
   * Up to `limit` rows whose change timestamp is NULL (within `eventRange` when given), and how many
   * there are in all.
   */
  readNullChange(req: NullChangeRequest): Promise<{ page: SourcePage; total: number }>;
  /**
   * The warehouse's own clock, epoch milliseconds. Change timestamps are usually written by this
   * clock, so the settle bound is taken from it (and from the worker's, whichever is earlier).
   * Optional: without it only the worker's clock is used.
   */
  now?(): Promise<number>;
  /**
   * How many rows `readPage` would return from `after` up to `until` (or without end), without a limit
   * (for `reset`, and to count rows changed in the future). Optional.
   */
  countRows?(req: CountRequest): Promise<number>;
  close(): Promise<void>;
}

/** A problem with the source itself (missing table or column, wrong type): retrying will not help. */
export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceError';
  }
}

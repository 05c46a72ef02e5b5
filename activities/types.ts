/**
 * Inputs and results of the sync activities. These travel through Temporal's history, so they carry
 * counts and cursors only, never rows or events (payload limit 2 MB; history 50 MB).
 */
import type { SyncConfig } from '../config/types.ts';
import type { Cursor, KeyOrder } from '../incremental/cursor.ts';

/** Which watermark a run reads and moves. */
export interface RunTarget {
  sync: SyncConfig;
  /** State-store key of the watermark: the sync name, or `<sync>@backfill:<range>` for a backfill. */
  stateKey: string;
  /** Identifies the logical run (stable across continue-as-new): the first workflow run id. */
  runId: string;
}

/** Event-time range of a backfill as canonical literals of the event timestamp column (from inclusive, to exclusive). */
export interface EventRangeLiterals {
  from?: string;
  to?: string;
}

/** Input of `prepareRun`. */
export interface PrepareInput extends RunTarget {
  mode: 'incremental' | 'backfill';
  /**
   * "Now" for the settle bound, epoch ms. Normally omitted: the activity then takes the earlier of the
   * warehouse's clock and its own (change timestamps are usually stamped by the warehouse's clock).
   */
  nowMs?: number;
  /** Backfill: the event-time range as typed (ISO 8601 date or time; without offset = the sync's timestamp_zone). */
  eventFrom?: string;
  eventTo?: string;
}

/** Result of `prepareRun`. */
export interface PrepareResult {
  watermark: Cursor | null;
  /** Inclusive upper bound of change timestamps this run reads (canonical literal). */
  until: string;
  /** The clock reading the bound was computed from (epoch ms) and where it came from. */
  nowMs: number;
  clock: 'warehouse' | 'worker' | 'input';
  /** Start of the lookback window, or null when lookback is off or there is no watermark yet. */
  lookbackFrom: Cursor | null;
  /** Columns that will become properties. */
  propertyColumns: string[];
  /** Rows with a NULL change timestamp (rejected, never loaded; within the event range for a backfill). */
  nullChangeRows: number;
  /**
   * Rows whose change timestamp is more than a minute after "now" (a day, for a DATE column): they wait
   * until then. Many of them usually mean `timestamp_zone` does not match how the column is written.
   */
  futureRows: number;
  /** How ties are ordered (for comparing cursors). */
  keyOrder: KeyOrder;
  /** Name of the tie-break column, or null in group mode (pages never split equal change timestamps). */
  tieBreaker: string | null;
  /** Backfill: the event-time range as literals of the event column. */
  eventRange?: EventRangeLiterals;
}

/** Input of `loadPage`. */
export interface PageInput extends RunTarget {
  /** `lookback` re-reads the window behind the watermark and never commits; `main` commits after the page. */
  phase: 'lookback' | 'main';
  after: Cursor | null;
  until: string;
  /** The watermark as this run last knew it (the compare-and-set's expected value). */
  watermark: Cursor | null;
  /** Send Klaviyo's `backfill: true`. */
  backfill: boolean;
  /** Backfill: event-time range (literals of the event column). */
  eventRange?: EventRangeLiterals;
  keyOrder: KeyOrder;
}

/** Counts by reason code. */
export type Counts = Record<string, number>;

/** Result of `loadPage`. */
export interface PageResult {
  rowsRead: number;
  /** Events acknowledged by Klaviyo (202) in this page. */
  eventsAccepted: number;
  /** Events dropped inside the page because (profile, metric, unique_id) repeated. */
  duplicates: number;
  /** Events not sent because the ledger shows Klaviyo already acknowledged them (lookback syncs only). */
  alreadySent: number;
  rejected: Counts;
  /** Identifiers dropped while the event still loaded (e.g. an invalid phone next to a valid email). */
  warnings: Counts;
  /**
   * Where the next page starts: the cursor of the page's last row, or further when a retried attempt
   * finds that its own earlier attempt committed further. Null when the page was empty.
   */
  last: Cursor | null;
  /** The watermark after this page (unchanged in the lookback phase or when the page was empty). */
  watermark: Cursor | null;
  /** No rows remain at or before `until`. */
  done: boolean;
  requests: number;
  throttled: number;
  retries: number;
}

/** Failure types a retry cannot fix (listed as non-retryable in the workflow's retry policy). */
export const NON_RETRYABLE_ERRORS = ['SourceError', 'MappingError', 'KlaviyoAuthError', 'WatermarkConflict', 'ConfigError', 'KlaviyoRejectedPage'];

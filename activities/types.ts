/**
 * Inputs and results of the sync activities. These travel through Temporal's history, so they carry
 * counts and cursors only, never rows or events (payload limit 2 MB; history 50 MB).
 */
import type { SyncConfig } from '../config/types.ts';
import type { Cursor } from '../incremental/cursor.ts';

/** Which watermark a run reads and moves. */
export interface RunTarget {
  sync: SyncConfig;
  /** State-store key of the watermark: the sync name, or `<sync>@backfill:<id>` for a backfill. */
  stateKey: string;
  /** Identifies the logical run (stable across continue-as-new): the first workflow run id. */
  runId: string;
}

/** Input of `prepareRun`. */
export interface PrepareInput extends RunTarget {
  /** Epoch ms of "now" as the workflow saw it (deterministic), for the settle bound. */
  nowMs: number;
  /** Record and count rows whose change timestamp is NULL (incremental runs). */
  checkNullChange: boolean;
  /** Optional upper bound on the change timestamp (backfill `--to`), ISO 8601. */
  changeUntil?: string;
}

/** Result of `prepareRun`. */
export interface PrepareResult {
  watermark: Cursor | null;
  /** Inclusive upper bound of change timestamps this run reads (canonical literal). */
  until: string;
  /** Start of the lookback window, or null when lookback is off or there is no watermark yet. */
  lookbackFrom: Cursor | null;
  /** Columns that will become properties. */
  propertyColumns: string[];
  /** Rows with a NULL change timestamp (rejected, never loaded). */
  nullChangeRows: number;
  /** How ties are ordered (for comparing cursors). */
  keyOrder: 'numeric' | 'text';
}

/** Input of `loadPage`. */
export interface PageInput extends RunTarget {
  after: Cursor | null;
  until: string;
  /** The watermark as this run last knew it (the compare-and-set's expected value). */
  watermark: Cursor | null;
  /** Move the watermark after this page (false while re-reading the lookback window). */
  commit: boolean;
  /** Send Klaviyo's `backfill: true`. */
  backfill: boolean;
  /** Optional event-time range (backfill), ISO 8601 literals. */
  eventFrom?: string;
  eventTo?: string;
  keyOrder: 'numeric' | 'text';
}

/** Counts by reason code. */
export type Counts = Record<string, number>;

/** Result of `loadPage`. */
export interface PageResult {
  rowsRead: number;
  eventsAccepted: number;
  /** Events dropped inside the page because (profile, metric, unique_id) repeated. */
  duplicates: number;
  rejected: Counts;
  /** Identifiers dropped while the event still loaded (e.g. an invalid phone next to a valid email). */
  warnings: Counts;
  /** Cursor of the page's last row, or null when the page was empty. */
  last: Cursor | null;
  /** The watermark after this page (unchanged when `commit` was false or the page empty). */
  watermark: Cursor | null;
  /** No rows remain at or before `until`. */
  done: boolean;
  requests: number;
  throttled: number;
  retries: number;
}

/** Failure types a retry cannot fix (listed as non-retryable in the workflow's retry policy). */
export const NON_RETRYABLE_ERRORS = ['SourceError', 'MappingError', 'KlaviyoAuthError', 'WatermarkConflict', 'ConfigError'];

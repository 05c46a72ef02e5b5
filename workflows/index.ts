/**
 * The sync workflow: one run of one sync. Deterministic code only (bundled into Temporal's sandbox).
 * It pages through the rows changed since the watermark with activities that read, map and load a
 * page and commit the watermark; rows never pass through workflow history. Long runs continue-as-new
 * with their counters; a worker crash resumes from the last committed page.
 */
import {
  continueAsNew,
  defineQuery,
  proxyActivities,
  setHandler,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
  log,
} from '@temporalio/workflow';
import type { SyncConfig } from '../config/types.ts';
import { compareTs, cursorText, type Cursor, type KeyOrder } from '../incremental/cursor.ts';
import type { createSyncActivities } from '../activities/sync.ts';
import { NON_RETRYABLE_ERRORS, type Counts, type EventRangeLiterals, type PageResult } from '../activities/types.ts';
import { EVENT_SYNC_NAME } from './search-attributes.ts';
import { runDetails } from './ui.ts';

type Activities = ReturnType<typeof createSyncActivities>;

/** Input of `syncWorkflow`. `carry` is set only by continue-as-new. */
export interface SyncWorkflowInput {
  sync: SyncConfig;
  /** Default `incremental`. */
  mode?: 'incremental' | 'backfill';
  /**
   * For backfill runs: `id` names the backfill's own watermark (`<sync>@backfill:<id>`); `from`/`to` the
   * range of *event* times as typed (from inclusive, to exclusive; without offset = the sync's
   * timestamp_zone); `flag` sends Klaviyo's `backfill: true`.
   */
  backfill?: { id: string; from?: string; to?: string; flag: boolean };
  /**
   * How long a page may go without a heartbeat before Temporal retries it on another worker (so how
   * soon a page of a crashed worker resumes). Default `30s`; tests shorten it.
   */
  pageHeartbeatTimeout?: string;
  carry?: Carry;
}

/** Totals of a run. */
export interface RunTotals {
  rowsRead: number;
  eventsAccepted: number;
  duplicates: number;
  /** Events not sent because the ledger shows Klaviyo already acknowledged them (lookback syncs). */
  alreadySent: number;
  rejected: Counts;
  warnings: Counts;
  pages: number;
  requests: number;
  throttled: number;
  retries: number;
  /** Rows re-read from the lookback window behind the watermark (part of `rowsRead`). */
  lookbackRows: number;
  /** Events sent from the lookback window because they had not been sent before: late rows. */
  lateEvents: number;
}

interface Carry {
  runId: string;
  stateKey: string;
  phase: 'lookback' | 'main';
  after: Cursor | null;
  until: string;
  watermark: Cursor | null;
  watermarkBefore: Cursor | null;
  keyOrder: KeyOrder;
  eventRange?: EventRangeLiterals;
  /** See `PrepareResult.futureRows`. */
  futureRows?: number;
  totals: RunTotals;
  startedAt: string;
  continuedAsNew: number;
}

/** The workflow's result: what the run did, shown in the Temporal UI and by the CLI. */
export interface SyncRunResult extends RunTotals {
  sync: string;
  mode: 'incremental' | 'backfill';
  runId: string;
  /** The watermark's key in the state store (the sync's name, or its backfill's key). */
  stateKey: string;
  /** Watermark before and after (null = never committed). */
  watermarkBefore: Cursor | null;
  watermarkAfter: Cursor | null;
  /** Upper bound of change timestamps this run read. */
  until: string;
  /** Rows changed more than a minute after the run started (they wait; many suggest a wrong timestamp_zone). */
  futureRows: number;
  rejectedTotal: number;
  startedAt: string;
  finishedAt: string;
  continuedAsNew: number;
}

/** What the `progress` query answers. */
export interface RunProgress extends RunTotals {
  phase: 'prepare' | 'lookback' | 'main';
  stateKey: string;
  after: Cursor | null;
  until: string | null;
  watermark: Cursor | null;
  continuedAsNew: number;
}

/** Query: the run's progress so far. */
export const progressQuery = defineQuery<RunProgress>('progress');

function zeroTotals(): RunTotals {
  return { rowsRead: 0, eventsAccepted: 0, duplicates: 0, alreadySent: 0, rejected: {}, warnings: {}, pages: 0, requests: 0, throttled: 0, retries: 0, lookbackRows: 0, lateEvents: 0 };
}

function add(t: RunTotals, p: PageResult, lookback: boolean): void {
  t.rowsRead += p.rowsRead;
  t.eventsAccepted += p.eventsAccepted;
  t.duplicates += p.duplicates;
  t.alreadySent += p.alreadySent;
  t.pages += 1;
  t.requests += p.requests;
  t.throttled += p.throttled;
  t.retries += p.retries;
  if (lookback) {
    t.lookbackRows += p.rowsRead;
    t.lateEvents += p.eventsAccepted;
  }
  for (const [k, v] of Object.entries(p.rejected)) t.rejected[k] = (t.rejected[k] ?? 0) + v;
  for (const [k, v] of Object.entries(p.warnings)) t.warnings[k] = (t.warnings[k] ?? 0) + v;
}

const retry = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '2m',
  maximumAttempts: 10,
  nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
};

/** The state-store key of a run's watermark. */
export function stateKeyOf(input: Pick<SyncWorkflowInput, 'sync' | 'mode' | 'backfill'>): string {
  return input.mode === 'backfill' && input.backfill ? `${input.sync.name}@backfill:${input.backfill.id}` : input.sync.name;
}

/**
 * Runs one sync once: incremental (from its watermark: first the lookback window when configured,
 * then every row changed after the watermark up to the settle bound), or a backfill (its own
 * watermark, an event-time range). The settle bound is fixed once per run by `prepareRun`, so a run
 * always ends; rows changed later are the next run's.
 */
export async function syncWorkflow(input: SyncWorkflowInput): Promise<SyncRunResult> {
  const { sync } = input;
  const mode = input.mode ?? 'incremental';
  const info = workflowInfo();
  const sendBackfill = mode === 'backfill' ? (input.backfill?.flag ?? true) : sync.options.backfill;
  if (!info.searchAttributes?.[EVENT_SYNC_NAME.name]) {
    upsertSearchAttributes([{ key: EVENT_SYNC_NAME, value: sync.name }]);
  }

  let c: Carry | undefined = input.carry;
  const stateKey = c?.stateKey ?? stateKeyOf(input);
  setHandler(progressQuery, () =>
    c
      ? { ...c.totals, phase: c.phase, stateKey, after: c.after, until: c.until, watermark: c.watermark, continuedAsNew: c.continuedAsNew }
      : { ...zeroTotals(), phase: 'prepare', stateKey, after: null, until: null, watermark: null, continuedAsNew: 0 },
  );

  if (!c) {
    const { prepareRun } = proxyActivities<Activities>({
      startToCloseTimeout: '5m',
      retry,
      summary: `check ${sync.source.table} and fix this run's bounds`,
    });
    const runId = info.firstExecutionRunId;
    const prep = await prepareRun({
      sync,
      stateKey,
      runId,
      mode,
      eventFrom: input.backfill?.from,
      eventTo: input.backfill?.to,
    });
    const totals = zeroTotals();
    if (prep.nullChangeRows > 0) totals.rejected.null_change_timestamp = prep.nullChangeRows;
    c = {
      runId,
      stateKey,
      phase: prep.lookbackFrom ? 'lookback' : 'main',
      after: prep.lookbackFrom ?? prep.watermark,
      until: prep.until,
      watermark: prep.watermark,
      watermarkBefore: prep.watermark,
      keyOrder: prep.keyOrder,
      ...(prep.eventRange ? { eventRange: prep.eventRange } : {}),
      futureRows: prep.futureRows,
      totals,
      startedAt: new Date().toISOString(),
      continuedAsNew: 0,
    };
    log.info('sync run prepared', {
      sync: sync.name,
      stateKey,
      watermark: cursorText(prep.watermark),
      until: prep.until,
      clock: prep.clock,
      tieBreaker: prep.tieBreaker,
      nullChangeRows: prep.nullChangeRows,
      futureRows: prep.futureRows,
    });
    if (prep.futureRows > 0) {
      log.warn('rows with a change timestamp in the future wait until then; check options.timestamp_zone', { sync: sync.name, futureRows: prep.futureRows });
    }
  }
  const run = c;
  setCurrentDetails(runDetails(sync, run, mode));

  for (;;) {
    const lookback = run.phase === 'lookback';
    const { loadPage } = proxyActivities<Activities>({
      startToCloseTimeout: '15m',
      heartbeatTimeout: input.pageHeartbeatTimeout ?? '30s',
      retry,
      summary: `${lookback ? 'lookback ' : ''}page ${run.totals.pages + 1} after ${cursorText(run.after)}`,
    });
    // The lookback window ends at the watermark: what lies after it is the main phase's.
    const until = lookback && run.watermark && compareTs(run.watermark.ts, run.until) < 0 ? run.watermark.ts : run.until;
    const page = await loadPage({
      sync,
      stateKey,
      runId: run.runId,
      phase: run.phase,
      after: run.after,
      until,
      watermark: run.watermark,
      backfill: sendBackfill,
      ...(run.eventRange ? { eventRange: run.eventRange } : {}),
      keyOrder: run.keyOrder,
    });
    add(run.totals, page, lookback);
    if (!lookback) run.watermark = page.watermark;
    if (page.last) run.after = page.last;
    setCurrentDetails(runDetails(sync, run, mode));
    if (page.done) {
      if (!lookback) break;
      run.phase = 'main';
      run.after = run.watermark;
    }
    if (workflowInfo().continueAsNewSuggested) {
      run.continuedAsNew++;
      await continueAsNew<typeof syncWorkflow>({ ...input, carry: run });
    }
  }

  const rejectedTotal = Object.values(run.totals.rejected).reduce((a, b) => a + b, 0);
  return {
    sync: sync.name,
    mode,
    runId: run.runId,
    stateKey,
    ...run.totals,
    rejectedTotal,
    watermarkBefore: run.watermarkBefore,
    watermarkAfter: run.watermark,
    until: run.until,
    futureRows: run.futureRows ?? 0,
    startedAt: run.startedAt,
    finishedAt: new Date().toISOString(),
    continuedAsNew: run.continuedAsNew,
  };
}

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
import type { Cursor } from '../incremental/cursor.ts';
import type { createSyncActivities } from '../activities/sync.ts';
import { NON_RETRYABLE_ERRORS, type Counts, type PageResult } from '../activities/types.ts';
import { EVENT_SYNC_NAME } from './search-attributes.ts';
import { progressOf, runDetails, type RunProgress } from './ui.ts';

type Activities = ReturnType<typeof createSyncActivities>;

/** Input of `syncWorkflow`. `carry` is set only by continue-as-new. */
export interface SyncWorkflowInput {
  sync: SyncConfig;
  /** Default `incremental`. */
  mode?: 'incremental' | 'backfill';
  /** For backfill runs: the range of event times (ISO 8601, from inclusive, to exclusive) and the flag. */
  backfill?: { id: string; from?: string; to?: string; flag: boolean };
  carry?: Carry;
}

/** Totals of a run. */
export interface RunTotals {
  rowsRead: number;
  eventsAccepted: number;
  duplicates: number;
  rejected: Counts;
  warnings: Counts;
  pages: number;
  requests: number;
  throttled: number;
  retries: number;
}

interface Carry {
  runId: string;
  phase: 'lookback' | 'main';
  after: Cursor | null;
  until: string;
  watermark: Cursor | null;
  watermarkBefore: Cursor | null;
  keyOrder: 'numeric' | 'text';
  totals: RunTotals;
  startedAt: string;
  continuedAsNew: number;
}

/** The workflow's result: what the run did, shown in the Temporal UI and by the CLI. */
export interface SyncRunResult extends RunTotals {
  sync: string;
  mode: 'incremental' | 'backfill';
  runId: string;
  /** Watermark before and after (null = never committed). */
  watermarkBefore: Cursor | null;
  watermarkAfter: Cursor | null;
  /** Upper bound of change timestamps this run read. */
  until: string;
  rejectedTotal: number;
  startedAt: string;
  finishedAt: string;
  continuedAsNew: number;
}

/** Query: the run's progress so far. */
export const progressQuery = defineQuery<RunProgress>('progress');

function zeroTotals(): RunTotals {
  return { rowsRead: 0, eventsAccepted: 0, duplicates: 0, rejected: {}, warnings: {}, pages: 0, requests: 0, throttled: 0, retries: 0 };
}

function add(t: RunTotals, p: PageResult): void {
  t.rowsRead += p.rowsRead;
  t.eventsAccepted += p.eventsAccepted;
  t.duplicates += p.duplicates;
  t.pages += 1;
  t.requests += p.requests;
  t.throttled += p.throttled;
  t.retries += p.retries;
  for (const [k, v] of Object.entries(p.rejected)) t.rejected[k] = (t.rejected[k] ?? 0) + v;
  for (const [k, v] of Object.entries(p.warnings)) t.warnings[k] = (t.warnings[k] ?? 0) + v;
}

function fmt(c: Cursor | null): string {
  return c ? (c.key === null ? c.ts : `${c.ts} #${c.key}`) : 'start';
}

const retry = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '2m',
  maximumAttempts: 10,
  nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
};

/** Runs one sync once: incremental (from its watermark) or a backfill (its own watermark and range). */
export async function syncWorkflow(input: SyncWorkflowInput): Promise<SyncRunResult> {
  const { sync } = input;
  const mode = input.mode ?? 'incremental';
  const info = workflowInfo();
  const stateKey = mode === 'backfill' && input.backfill ? `${sync.name}@backfill:${input.backfill.id}` : sync.name;
  const sendBackfill = mode === 'backfill' ? (input.backfill?.flag ?? true) : sync.options.backfill;
  if (!info.searchAttributes?.[EVENT_SYNC_NAME.name]) {
    upsertSearchAttributes([{ key: EVENT_SYNC_NAME, value: sync.name }]);
  }

  const { prepareRun } = proxyActivities<Activities>({
    startToCloseTimeout: '5m',
    retry,
    summary: `check ${sync.source.table} and fix this run's bounds`,
  });

  let c: Carry;
  if (input.carry) c = input.carry;
  else {
    const runId = info.firstExecutionRunId;
    const prep = await prepareRun({
      sync,
      stateKey,
      runId,
      nowMs: Date.now(),
      checkNullChange: mode === 'incremental',
      changeUntil: undefined,
    });
    const totals = zeroTotals();
    if (prep.nullChangeRows > 0) totals.rejected.null_change_timestamp = prep.nullChangeRows;
    c = {
      runId,
      phase: prep.lookbackFrom ? 'lookback' : 'main',
      after: prep.lookbackFrom ?? prep.watermark,
      until: prep.until,
      watermark: prep.watermark,
      watermarkBefore: prep.watermark,
      keyOrder: prep.keyOrder,
      totals,
      startedAt: new Date().toISOString(),
      continuedAsNew: 0,
    };
    log.info('sync run prepared', { sync: sync.name, watermark: fmt(prep.watermark), until: prep.until, nullChangeRows: prep.nullChangeRows });
  }

  setHandler(progressQuery, () => progressOf(sync.name, c));
  setCurrentDetails(runDetails(sync, c));

  for (;;) {
    const lookback = c.phase === 'lookback';
    const until = lookback && c.watermark && c.watermark.ts < c.until ? c.watermark.ts : c.until;
    const { loadPage } = proxyActivities<Activities>({
      startToCloseTimeout: '15m',
      heartbeatTimeout: '2m',
      retry,
      summary: `${lookback ? 'lookback ' : ''}page ${c.totals.pages + 1} after ${fmt(c.after)}`,
    });
    const page = await loadPage({
      sync,
      stateKey,
      runId: c.runId,
      after: c.after,
      until,
      watermark: c.watermark,
      commit: !lookback,
      backfill: sendBackfill,
      eventFrom: input.backfill?.from,
      eventTo: input.backfill?.to,
      keyOrder: c.keyOrder,
    });
    add(c.totals, page);
    if (!lookback) c.watermark = page.watermark;
    if (page.last) c.after = page.last;
    setCurrentDetails(runDetails(sync, c));
    if (page.done) {
      if (!lookback) break;
      c.phase = 'main';
      c.after = c.watermark;
    }
    if (workflowInfo().continueAsNewSuggested) {
      c.continuedAsNew++;
      await continueAsNew<typeof syncWorkflow>({ ...input, carry: c });
    }
  }

  const rejectedTotal = Object.values(c.totals.rejected).reduce((a, b) => a + b, 0);
  return {
    sync: sync.name,
    mode,
    runId: c.runId,
    ...c.totals,
    rejectedTotal,
    watermarkBefore: c.watermarkBefore,
    watermarkAfter: c.watermark,
    until: c.until,
    startedAt: c.startedAt,
    finishedAt: new Date().toISOString(),
    continuedAsNew: c.continuedAsNew,
  };
}

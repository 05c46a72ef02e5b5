/**
 * What the Temporal UI shows about a running sync: the live "current details" (markdown), refreshed
 * after `prepareRun` and after every page. Deterministic, sandbox-safe code (no Node modules, no
 * clock): imported by the workflow.
 */
import type { SyncConfig } from '../config/types.ts';
import type { Cursor } from '../incremental/cursor.ts';
import type { Counts } from '../activities/types.ts';
import type { RunTotals } from './index.ts';

/** The counters of a run that the details show: the workflow's `RunTotals`. */
export type RunCounters = RunTotals;

/** The part of the workflow's run state the details read. */
export interface RunStateView {
  stateKey: string;
  phase: 'lookback' | 'main';
  after: Cursor | null;
  until: string;
  watermark: Cursor | null;
  watermarkBefore: Cursor | null;
  totals: RunCounters;
  startedAt: string;
  continuedAsNew: number;
}

/** `1234567` -> `1,234,567` (no Intl: the workflow sandbox need not have locale data). */
function num(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function cursorText(c: Cursor | null): string {
  return c ? (c.key === null ? c.ts : `${c.ts} / key ${c.key}`) : 'none yet';
}

function reasons(counts: Counts): string {
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${num(n)}`)
    .join(', ');
}

/** The live details of a running sync (markdown, shown as "current details" in the Temporal UI). */
export function runDetails(sync: SyncConfig, c: RunStateView, mode: 'incremental' | 'backfill' = 'incremental'): string {
  const t = c.totals;
  const rejected = Object.values(t.rejected).reduce((a, b) => a + b, 0);
  const doing = c.phase === 'lookback' ? 're-reading the lookback window' : mode === 'backfill' ? `backfilling (${c.stateKey})` : 'loading';
  const lines = [
    `**${sync.name}** ${doing}: ${num(t.pages)} page(s) done, started ${c.startedAt}${c.continuedAsNew ? `, continued as new ${c.continuedAsNew} time(s)` : ''}`,
    '',
    `- rows read: ${num(t.rowsRead)}; events accepted: ${num(t.eventsAccepted)}; rejected: ${num(rejected)}${rejected ? ` (${reasons(t.rejected)})` : ''}`,
  ];
  const w = reasons(t.warnings);
  if (w) lines.push(`- identifiers dropped, event kept: ${w}`);
  if (t.duplicates) lines.push(`- repeated unique_id in a page, dropped: ${num(t.duplicates)}`);
  if (t.lookbackRows) lines.push(`- lookback: ${num(t.lookbackRows)} row(s) re-read, ${num(t.lateEvents)} late event(s) sent, ${num(t.alreadySent)} already sent`);
  lines.push(`- watermark: ${cursorText(c.watermark)} (before this run: ${cursorText(c.watermarkBefore)})`);
  lines.push(`- reads rows of \`${sync.source.table}\` changed up to ${c.until} (now minus settle delay ${sync.options.settle_delay})`);
  lines.push(`- Klaviyo: ${num(t.requests)} request(s)${t.throttled ? `, ${num(t.throttled)} answered 429 and retried` : ''}${t.retries ? `, ${num(t.retries)} retried` : ''}`);
  return lines.join('\n');
}

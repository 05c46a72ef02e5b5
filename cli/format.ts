/** Human-readable output shared by CLI commands. */
import type { Cursor } from '../incremental/cursor.ts';
import type { SyncRunResult } from '../workflows/index.ts';

/** `1234567` -> `1,234,567`. */
export function num(n: number): string {
  return n.toLocaleString('en-US');
}

/** A watermark as one short string. */
export function cursorText(c: Cursor | null): string {
  if (!c) return 'none (never committed)';
  return c.key === null ? c.ts : `${c.ts} / key ${c.key}`;
}

/** Counts by reason, largest first: `missing_identifier 6, invalid_email 4`. */
export function reasons(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${num(n)}`);
  return parts.length ? parts.join(', ') : '';
}

/** URL of a workflow run in the Temporal Web UI. */
export function runUrl(uiUrl: string, namespace: string, workflowId: string, runId: string): string {
  return `${uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`;
}

/** What the warnings of a run or preview meant for the events (they were all sent). */
export function warningsNote(warnings: Record<string, number> | undefined): string {
  const keys = Object.keys(warnings ?? {});
  const dropped = keys.some((k) => k !== 'missing_unique_id');
  const derived = keys.includes('missing_unique_id');
  return [dropped ? 'identifier dropped, event kept' : '', derived ? 'missing_unique_id: a derived unique_id was sent' : ''].filter(Boolean).join('; ');
}

/** The block printed for one finished run. */
export function formatRun(r: SyncRunResult, extra: { url?: string } = {}): string {
  const lines: string[] = [];
  const pad = (k: string) => `  ${k.padEnd(18)}`;
  if (r.rowsRead === 0 && r.rejectedTotal === 0) {
    lines.push(
      `${pad('result')}${r.futureRows ? 'no rows to load yet: nothing loaded (see future rows)' : 'no new rows since the watermark: nothing loaded'}`,
    );
  }
  lines.push(`${pad('rows read')}${num(r.rowsRead)}${r.pages ? ` in ${num(r.pages)} page(s)` : ''}`);
  lines.push(
    `${pad('events accepted')}${num(r.eventsAccepted)}` +
      (r.duplicates ? `, ${num(r.duplicates)} repeated unique_id(s) dropped` : ''),
  );
  if (r.lookbackRows) {
    lines.push(
      `${pad('lookback')}${num(r.lookbackRows)} row(s) re-read behind the watermark: ${num(r.lateEvents ?? 0)} late event(s) sent, ` +
        `${num(r.alreadySent ?? 0)} already sent before (not sent again)`,
    );
  }
  lines.push(`${pad('rows rejected')}${num(r.rejectedTotal)}${r.rejectedTotal ? `: ${reasons(r.rejected)}` : ''}`);
  const w = reasons(r.warnings);
  if (w) lines.push(`${pad('warnings')}${w} (${warningsNote(r.warnings)})`);
  if (r.futureRows) {
    lines.push(
      `${pad('future rows')}${num(r.futureRows)} row(s) have a change timestamp later than now; they load once that time has passed ` +
        "(unexpected? the sync's timestamp_zone may not be the zone the column is written in)",
    );
  }
  lines.push(`${pad('watermark before')}${cursorText(r.watermarkBefore)}`);
  lines.push(`${pad('watermark after')}${cursorText(r.watermarkAfter)}`);
  if (r.throttled) lines.push(`${pad('rate limited')}${num(r.throttled)} request(s) answered 429 and retried`);
  if (extra.url) lines.push(`${pad('run')}${extra.url}`);
  return lines.join('\n');
}

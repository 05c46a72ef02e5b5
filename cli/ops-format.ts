/** Text output of the operations commands (plan, apply, status, rejects). */
import type { AppliedStep, FieldChange, Plan, PlanEntry } from '../ops/plan.ts';
import { planCounts, planErrors, planHasChanges } from '../ops/plan.ts';
import { durationText, progressLine } from '../ops/progress.ts';
import type { RunInfo, SyncStatus } from '../ops/status.ts';
import { cursorText, num, reasons } from './format.ts';

/** A value as shown in a diff: strings quoted, everything else as JSON. */
export function valueText(v: unknown): string {
  if (v === undefined) return '(none)';
  return JSON.stringify(v);
}

/** One diff line: `~ options.page_size: 250 -> 500`, `+ mapping.value: "total"`, `- description: "x"`. */
export function changeLine(c: FieldChange): string {
  const sign = c.kind === 'add' ? '+' : c.kind === 'remove' ? '-' : '~';
  if (c.note && c.before === undefined && c.after === undefined) return `${sign} ${c.path}: ${c.note}`;
  const body = c.kind === 'add' ? valueText(c.after) : c.kind === 'remove' ? valueText(c.before) : `${valueText(c.before)} -> ${valueText(c.after)}`;
  return `${sign} ${c.path}: ${body}${c.note ? ` (${c.note})` : ''}`;
}

function entryBlock(e: PlanEntry): string[] {
  const where = e.file ? (e.action === 'delete' || e.action === 'orphan' ? ` (was ${e.file})` : ` (${e.file})`) : '';
  const head: Record<PlanEntry['action'], string> = {
    create: '+ create ',
    update: '~ update ',
    delete: '- delete ',
    orphan: '! orphan ',
    conflict: 'x conflict',
    unchanged: '= unchanged',
  };
  const lines = [`${head[e.action]} ${e.name}${where}`];
  if (e.action === 'conflict') lines.push(`      ${e.error}`);
  if ((e.action === 'create' || e.action === 'delete') && e.summary) lines.push(`      ${e.summary}`);
  for (const c of e.changes) lines.push(`      ${changeLine(c)}`);
  for (const n of e.notes) lines.push(`      note: ${n}`);
  return lines;
}

/** The human-readable plan, as `dwh-import plan` prints it. */
export function formatPlan(p: Plan, where: { address: string; syncsDir: string; files: number }): string {
  const out: string[] = [];
  out.push(`Plan for namespace ${p.namespace} at ${where.address}, task queue ${p.taskQueue}: ${where.files} sync file(s) in ${where.syncsDir}`);
  out.push('');
  for (const m of p.searchAttributes.missing) out.push(`+ search attribute ${m.name} (${m.type}): created in namespace ${p.namespace} so runs can be filtered by sync`);
  if (p.searchAttributes.unknown) out.push(`? search attributes could not be checked (${p.searchAttributes.unknown}); apply assumes they exist`);
  if (p.searchAttributes.missing.length || p.searchAttributes.unknown) out.push('');
  const shown = p.entries.filter((e) => e.action !== 'unchanged');
  for (const e of shown) {
    out.push(...entryBlock(e));
    out.push('');
  }
  const unchanged = p.entries.filter((e) => e.action === 'unchanged');
  for (const e of unchanged.filter((e) => e.notes.length)) {
    out.push(...entryBlock(e));
    out.push('');
  }
  const quiet = unchanged.filter((e) => !e.notes.length);
  if (quiet.length) {
    out.push(`= unchanged: ${quiet.map((e) => e.name).join(', ')}`);
    out.push('');
  }
  const c = planCounts(p);
  const errors = planErrors(p);
  if (errors.length) out.push(`Error: apply would refuse to change anything: ${errors.length} problem(s) above.`);
  else if (planHasChanges(p)) {
    out.push(`Plan: ${c.create} to create, ${c.update} to update, ${c.delete} to delete, ${c.unchanged} unchanged.`);
  } else out.push(`No changes: the schedules match the sync files (${c.unchanged} unchanged).`);
  if (c.orphan) out.push(`${c.orphan} managed schedule(s) without a sync file are kept; run with --prune to delete them.`);
  if (p.unmanaged) out.push(`${p.unmanaged} schedule(s) in the namespace are not managed by dwh-import and are left alone.`);
  return out.join('\n');
}

/** One line per step `apply` took. */
export function stepLine(s: AppliedStep): string {
  const verb = { create: 'created', update: 'updated', delete: 'deleted', 'search-attribute': 'created search attribute' }[s.action];
  return s.ok ? `${verb.padEnd(8)} ${s.name}` : `FAILED   ${s.action} ${s.name}: ${s.error}`;
}

/** `2026-11-30 04:00:00 UTC`. */
export function timeText(isoText: string): string {
  return `${isoText.slice(0, 19).replace('T', ' ')} UTC`;
}

/** `in 39m`, `5m ago`. */
export function relativeText(isoText: string, now = Date.now()): string {
  const d = Date.parse(isoText) - now;
  const t = durationText(Math.abs(d));
  return d >= 0 ? `in ${t}` : `${t} ago`;
}

function runLine(r: RunInfo, now: number): string {
  if (r.status === 'COMPLETED' && r.result) {
    const x = r.result;
    const took = Date.parse(x.finishedAt) - Date.parse(x.startedAt);
    return (
      `completed ${timeText(x.finishedAt)} (${relativeText(x.finishedAt, now)}, took ${durationText(took)}): ` +
      `${num(x.rowsRead)} rows read, ${num(x.eventsAccepted)} events accepted, ${num(x.rejectedTotal)} rejected` +
      (x.rejectedTotal ? ` (${reasons(x.rejected)})` : '')
    );
  }
  const when = r.closedAt ?? r.startedAt;
  return `${r.status.toLowerCase()} ${timeText(when)} (${relativeText(when, now)})${r.failure ? `: ${r.failure}` : ''}`;
}

/** The status block of one sync. */
export function formatStatus(s: SyncStatus, opts: { uiUrl?: string; namespace: string; statePath: string; now?: number }): string {
  const now = opts.now ?? Date.now();
  const pad = (k: string) => `  ${k.padEnd(14)}`;
  const lines = [`${s.sync}${s.file ? `  (${s.file})` : ''}`];
  if (s.summary) lines.push(`${pad('sync')}${s.summary}`);
  lines.push(`${pad('schedule')}${s.schedule}, task queue ${s.taskQueue}`);
  if (s.paused) lines.push(`${pad('state')}PAUSED${s.note ? `: ${s.note}` : ''}`);
  else lines.push(`${pad('state')}active${s.nextRunAt ? `; next run ${timeText(s.nextRunAt)} (${relativeText(s.nextRunAt, now)})` : ''}`);
  if (s.running) {
    const p = s.running.progress;
    lines.push(
      `${pad('running')}${s.running.workflowId} since ${timeText(s.running.startedAt)}` +
        (p ? `: ${progressLine(p, { eventsPerSecond: null })}` : ' (no progress answer from a worker yet)'),
    );
  }
  lines.push(`${pad('last run')}${s.lastRun ? runLine(s.lastRun, now) : 'none yet'}`);
  if (s.lastRun) lines.push(`${pad('')}${s.lastRun.workflowId}, run id ${s.lastRun.runId}`);
  const w = s.watermark;
  if (w.source === 'state store') {
    lines.push(`${pad('watermark')}${cursorText(w.cursor)}${w.updatedAt ? ` (committed ${timeText(w.updatedAt)})` : ''}`);
  } else if (w.source === 'last run') {
    lines.push(`${pad('watermark')}${cursorText(w.cursor)} (as the last run left it; state store ${opts.statePath} not found here)`);
  } else lines.push(`${pad('watermark')}unknown: no completed run, and the state store ${opts.statePath} is not found here (set DWH_IMPORT_STATE or --state)`);
  const r = s.recent;
  if (r.runs + r.failed > 0) {
    const rej = reasons(r.rejected);
    lines.push(
      `${pad(`last ${r.runs + r.failed} run(s)`)}${num(r.rowsRead)} rows read, ${num(r.eventsAccepted)} events accepted, ` +
        `${rej ? `rejected: ${rej}` : 'no rejects'}${r.failed ? `; ${r.failed} run(s) did not complete` : ''}`,
    );
  }
  if (opts.uiUrl) lines.push(`${pad('Temporal UI')}${opts.uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(opts.namespace)}/schedules/${encodeURIComponent(s.sync)}`);
  return lines.join('\n');
}

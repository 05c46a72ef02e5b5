/**
 * `plan` and `apply`: compare the sync files with the Schedules on the Temporal server, and make the
 * server match. Like `terraform plan` / `apply`:
 * - a sync without a schedule is created; a sync whose schedule differs is updated in place (recent
 *   runs, paused state and the watermark survive); a managed schedule whose file is gone is deleted
 *   only with `prune`, otherwise reported and left running;
 * - schedules not managed by dwh-import are never changed; a sync whose name is taken by one is an
 *   error that stops the whole apply before anything changes;
 * - the comparison is a field-level diff of the sync definition the schedule runs (its workflow
 *   argument) against the YAML, plus the schedule's own settings (task queue, policies, UI texts, the
 *   spec as edited on the server, the paused state declared in the YAML).
 */
import { statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import diff from 'microdiff';
import { ScheduleNotFoundError, type Client, type ScheduleDescription } from '@temporalio/client';
import type { LoadedSync } from '../config/discover.ts';
import { tieBreakerName, type SyncConfig } from '../config/types.ts';
import {
  SCHEDULE_POLICIES,
  WORKFLOW_TYPE,
  desiredState,
  isManaged,
  scheduleAction,
  scheduleText,
  specDigest,
  storedSync,
  syncSummary,
  upsertSchedule,
} from './schedules.ts';
import { checkSearchAttributes, createSearchAttributes, type SearchAttributeCheck } from './search-attributes.ts';

/**
 * One field that differs. `path` is the YAML path of a sync field (`options.page_size`), or a label
 * in parentheses for a schedule setting that is not in the YAML (`(task queue)`).
 */
export interface FieldChange {
  path: string;
  kind: 'add' | 'remove' | 'change';
  before?: unknown;
  after?: unknown;
  /** Free text instead of before/after (e.g. spec drift). */
  note?: string;
}

/** What `apply` would do for one sync or schedule. */
export interface PlanEntry {
  /** Sync name = schedule id. */
  name: string;
  action: 'create' | 'update' | 'delete' | 'unchanged' | 'orphan' | 'conflict';
  /** The YAML file (create/update/unchanged), or the file the schedule last came from (delete/orphan). */
  file?: string;
  /** One line: table, metric, schedule. */
  summary?: string;
  changes: FieldChange[];
  /** Facts shown with the entry that are not changes (an operator's pause that apply keeps). */
  notes: string[];
  /** For `conflict`: why apply refuses. */
  error?: string;
}

/** A full plan for one namespace. */
export interface Plan {
  namespace: string;
  taskQueue: string;
  prune: boolean;
  searchAttributes: SearchAttributeCheck;
  entries: PlanEntry[];
  /** Schedules in the namespace that dwh-import does not manage (never touched). */
  unmanaged: number;
}

/** Counts of a plan's actions. */
export function planCounts(p: Plan) {
  const n = (a: PlanEntry['action']) => p.entries.filter((e) => e.action === a).length;
  return { create: n('create'), update: n('update'), delete: n('delete'), unchanged: n('unchanged'), orphan: n('orphan'), conflict: n('conflict') };
}

/** Whether `apply` (with the plan's prune setting) would change anything. */
export function planHasChanges(p: Plan): boolean {
  const c = planCounts(p);
  return c.create + c.update + c.delete + p.searchAttributes.missing.length > 0;
}

/** Problems that make `apply` refuse to start (it then changes nothing). */
export function planErrors(p: Plan): string[] {
  const out = p.entries.filter((e) => e.action === 'conflict').map((e) => `${e.name}: ${e.error}`);
  for (const w of p.searchAttributes.wrongType) {
    out.push(`search attribute ${w.name} exists in namespace ${p.namespace} with type ${w.actual}; dwh-import needs ${w.expected}`);
  }
  return out;
}

function plain<T>(v: T): T {
  return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

function pathText(path: (string | number)[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[');
}

/** Field-level differences between two sync definitions (paths as in the YAML; `$schema` ignored). */
export function diffSyncs(before: SyncConfig, after: SyncConfig): FieldChange[] {
  const strip = (s: SyncConfig) => {
    const { $schema: _ignored, ...rest } = plain(s) as SyncConfig & { $schema?: string };
    return rest;
  };
  const a = strip(after);
  const b = strip(before);
  // Changes in the order the fields appear in the YAML (a removed field after the one that preceded it).
  const afterPaths = leafPaths(a);
  const beforePaths = leafPaths(b);
  const at = new Map(afterPaths.map((p, i) => [p, i]));
  const rank = (path: string): number => {
    const own = at.get(path);
    if (own !== undefined) return own;
    // A removed field: right after the field that preceded it and still exists.
    const j = beforePaths.indexOf(path);
    const prev = beforePaths.slice(0, Math.max(0, j)).reverse().find((p) => at.has(p));
    return prev === undefined ? -0.5 : at.get(prev)! + 0.5;
  };
  return diff(b, a)
    .map((d): FieldChange => {
      const path = pathText(d.path);
      if (d.type === 'CREATE') return { path, kind: 'add', after: d.value };
      if (d.type === 'REMOVE') return { path, kind: 'remove', before: d.oldValue };
      return { path, kind: 'change', before: d.oldValue, after: d.value };
    })
    .sort((x, y) => rank(x.path) - rank(y.path));
}

function leafPaths(v: unknown, prefix = ''): string[] {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return prefix ? [prefix] : [];
  const out: string[] = prefix ? [prefix] : [];
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out.push(...leafPaths(x, prefix ? `${prefix}.${k}` : k));
  return out;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(plain(a)) === JSON.stringify(plain(b));
}

/** Everything that differs between the schedule on the server and the one `apply` would write. */
export function scheduleChanges(d: ScheduleDescription, sync: SyncConfig, taskQueue: string, file?: string): { changes: FieldChange[]; notes: string[] } {
  const changes: FieldChange[] = [];
  const notes: string[] = [];
  const prev = storedSync(d);
  const want = scheduleAction(sync, taskQueue, file);
  if (prev) {
    changes.push(...diffSyncs(prev, sync));
    // The watermark is a position in (table, change column, tie-break key): it survives an update, but
    // not a change of what it counts in. Runs refuse it then (see prepareRun); say so before apply.
    const cursorOf = (s: SyncConfig) => [s.source.table, s.mapping.change_timestamp, tieBreakerName(s) ?? null];
    const [t0, c0, k0] = cursorOf(prev);
    const [t1, c1, k1] = cursorOf(sync);
    if (t0 !== t1 || c0 !== c1 || k0 !== k1) {
      notes.push(
        `the watermark is a position in ${t0} ordered by (${[c0, k0].filter(Boolean).join(', ')}); this update reads ${t1} ordered by ` +
          `(${[c1, k1].filter(Boolean).join(', ')}), so runs stop until you choose where it starts: dwh-import reset ${sync.name} --to <time> | --clear`,
      );
    }
  } else changes.push({ path: '(sync definition)', kind: 'change', note: 'the schedule holds no readable sync definition; apply writes the one from the YAML' });
  const a = d.action;
  const input = a.args?.[0] as { mode?: string } | undefined;
  if (prev && input?.mode !== 'incremental') changes.push({ path: '(run mode)', kind: 'change', before: input?.mode, after: 'incremental' });
  if (a.workflowType !== WORKFLOW_TYPE) changes.push({ path: '(workflow type)', kind: 'change', before: a.workflowType, after: WORKFLOW_TYPE });
  if (a.taskQueue !== taskQueue) changes.push({ path: '(task queue)', kind: 'change', before: a.taskQueue, after: taskQueue });
  const p = d.policies;
  if (p.overlap !== SCHEDULE_POLICIES.overlap) changes.push({ path: '(overlap policy)', kind: 'change', before: p.overlap, after: SCHEDULE_POLICIES.overlap });
  if (p.catchupWindow !== SCHEDULE_POLICIES.catchupWindow) changes.push({ path: '(catch-up window ms)', kind: 'change', before: p.catchupWindow, after: SCHEDULE_POLICIES.catchupWindow });
  if (p.pauseOnFailure !== SCHEDULE_POLICIES.pauseOnFailure) changes.push({ path: '(pause on failure)', kind: 'change', before: p.pauseOnFailure, after: SCHEDULE_POLICIES.pauseOnFailure });
  const memo = (a.memo ?? {}) as Record<string, unknown>;
  if (file && memo.file !== file) changes.push({ path: '(file)', kind: memo.file ? 'change' : 'add', before: memo.file, after: file });
  const recorded = typeof memo.specDigest === 'string' ? memo.specDigest : undefined;
  const scheduleChanged = changes.some((c) => c.path.startsWith('schedule.') && c.path !== 'schedule.paused');
  if (recorded && recorded !== specDigest(d.spec) && !scheduleChanged) {
    changes.push({ path: '(schedule spec)', kind: 'change', note: `edited on the server outside dwh-import; apply restores ${scheduleText(sync.schedule)}` });
  }
  // UI texts follow from the sync definition; list them only when nothing else explains the update
  // (a newer dwh-import writes them differently).
  if (changes.length === 0) {
    if (a.staticSummary !== want.staticSummary) changes.push({ path: '(UI summary)', kind: 'change', before: a.staticSummary, after: want.staticSummary });
    if (a.staticDetails !== want.staticDetails) changes.push({ path: '(UI details)', kind: 'change', note: 'the run details text shown in the Temporal UI changes' });
    if (!same(memo.configHash, (want.memo as Record<string, unknown>).configHash)) changes.push({ path: '(config hash)', kind: 'change', before: memo.configHash, after: (want.memo as Record<string, unknown>).configHash });
  }
  const state = desiredState(sync, d.state, prev, file);
  if (state) {
    // The YAML field itself shows in the diff when it changed; the line below covers a server whose
    // state differs while the YAML did not change (an operator resumed a schedule the YAML pauses).
    if (!changes.some((c) => c.path === 'schedule.paused')) changes.push({ path: '(paused)', kind: 'change', before: d.state.paused, after: state.paused, note: state.reason });
  } else if (d.state.paused && !sync.schedule.paused) {
    notes.push(`paused on the server${d.state.note ? ` ("${d.state.note}")` : ''}; the YAML does not say paused, so apply keeps it paused (resume with: dwh-import resume ${sync.name})`);
  }
  return { changes, notes };
}

async function describeOrNull(client: Client, id: string): Promise<ScheduleDescription | null> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) return null;
    throw e;
  }
}

/**
 * Computes the plan: what `apply` would do to make the namespace match the sync files.
 * Reads only (describe and list calls); each sync's schedule is described by id (strongly
 * consistent), the listing (eventually consistent) only finds managed schedules whose file is gone.
 */
export async function computePlan(client: Client, opts: { namespace: string; taskQueue: string; syncs: LoadedSync[]; prune: boolean }): Promise<Plan> {
  const entries: PlanEntry[] = [];
  const wanted = new Set(opts.syncs.map((s) => s.sync.name));
  for (const { sync, file } of opts.syncs) {
    const d = await describeOrNull(client, sync.name);
    if (!d) {
      entries.push({ name: sync.name, action: 'create', file, summary: syncSummary(sync), changes: [], notes: sync.schedule.paused ? ['created paused (schedule.paused: true)'] : [] });
      continue;
    }
    if (!isManaged(d)) {
      entries.push({
        name: sync.name,
        action: 'conflict',
        file,
        changes: [],
        notes: [],
        error: `a schedule named "${sync.name}" exists but is not managed by dwh-import; rename the sync or remove that schedule yourself`,
      });
      continue;
    }
    const { changes, notes } = scheduleChanges(d, sync, opts.taskQueue, file);
    entries.push({ name: sync.name, action: changes.length ? 'update' : 'unchanged', file, summary: syncSummary(sync), changes, notes });
  }
  let unmanaged = 0;
  for await (const s of client.schedule.list()) {
    if (!isManaged(s)) {
      unmanaged++;
      continue;
    }
    if (wanted.has(s.scheduleId)) continue;
    const d = await describeOrNull(client, s.scheduleId);
    if (!d || !isManaged(d)) continue;
    const file = (d.action.memo as Record<string, unknown> | undefined)?.file as string | undefined;
    const prev = storedSync(d);
    entries.push({
      name: s.scheduleId,
      action: opts.prune ? 'delete' : 'orphan',
      file,
      summary: prev ? syncSummary(prev) : undefined,
      changes: [],
      notes: opts.prune ? [] : ['its sync file is gone; the schedule keeps running until you run apply --prune'],
    });
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  const searchAttributes = await checkSearchAttributes(client, opts.namespace);
  return { namespace: opts.namespace, taskQueue: opts.taskQueue, prune: opts.prune, searchAttributes, entries, unmanaged };
}

/** One step `apply` took. */
export interface AppliedStep {
  name: string;
  action: 'create' | 'update' | 'delete' | 'search-attribute';
  ok: boolean;
  error?: string;
}

/**
 * Carries out a plan: creates missing search attributes, then creates, updates and (with prune)
 * deletes schedules. Refuses to start when the plan has errors (`planErrors`). A failing step is
 * reported and the remaining steps still run; running apply again finishes the job (idempotent).
 * @param onStep called after each step (for progress output).
 * @throws Error when the plan has errors (nothing changed then).
 */
export async function applyPlan(client: Client, plan: Plan, syncs: LoadedSync[], onStep: (s: AppliedStep) => void = () => undefined): Promise<AppliedStep[]> {
  const errors = planErrors(plan);
  if (errors.length) throw new Error(`apply changed nothing:\n  ${errors.join('\n  ')}`);
  const steps: AppliedStep[] = [];
  const step = (s: AppliedStep) => {
    steps.push(s);
    onStep(s);
  };
  if (plan.searchAttributes.missing.length) {
    try {
      await createSearchAttributes(client, plan.namespace, plan.searchAttributes.missing);
      for (const m of plan.searchAttributes.missing) step({ name: m.name, action: 'search-attribute', ok: true });
    } catch (e) {
      // Runs would fail to record their search attribute: stop before any schedule starts them.
      for (const m of plan.searchAttributes.missing) step({ name: m.name, action: 'search-attribute', ok: false, error: (e as Error).message });
      return steps;
    }
  }
  const byName = new Map(syncs.map((s) => [s.sync.name, s]));
  for (const e of plan.entries) {
    if (e.action !== 'create' && e.action !== 'update' && e.action !== 'delete') continue;
    try {
      if (e.action === 'delete') {
        await client.schedule.getHandle(e.name).delete();
      } else {
        const s = byName.get(e.name)!;
        await withSearchAttributeRetry(() => upsertSchedule(client, s.sync, plan.taskQueue, s.file));
      }
      step({ name: e.name, action: e.action, ok: true });
    } catch (err) {
      if (e.action === 'delete' && err instanceof ScheduleNotFoundError) step({ name: e.name, action: 'delete', ok: true });
      else step({ name: e.name, action: e.action, ok: false, error: (err as Error).message });
    }
  }
  return steps;
}

/** A search attribute created a moment ago may not be accepted yet by every frontend: retry briefly. */
async function withSearchAttributeRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= 10 || !/search attribute/i.test((e as Error).message)) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * The file name recorded on a schedule: relative to the syncs folder's parent (`syncs/orders.yaml`),
 * so it stays the same whatever the current directory or checkout path of the apply.
 */
export function memoPath(syncsDir: string, file: string): string {
  const root = statSync(syncsDir).isFile() ? dirname(resolve(syncsDir)) : resolve(syncsDir);
  const top = statSync(syncsDir).isFile() ? '' : basename(root);
  return join(top, relative(root, resolve(file))).split('\\').join('/');
}

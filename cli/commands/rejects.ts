/**
 * `dwh-import rejects <sync> [--run <id>] [--show-values] [--limit N] [--json]`: the rejected rows of a
 * sync from the state store, newest first, with their reason, column and detail. Row values are
 * masked by shape (ops/mask.ts) unless --show-values is given. The row key (the event's unique_id,
 * mapped or derived) is shown as is: it is what finds the row in the warehouse.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { StateStore } from '../../activities/state/store.ts';
import { maskDetail, maskValue, showValue } from '../../ops/mask.ts';
import { num, reasons } from '../format.ts';
import { checkSyncs } from '../../config/discover.ts';
import { closest } from '../../config/suggest.ts';
import { REJECT_REASONS } from '../../mapping/types.ts';
import { timeText } from '../ops-format.ts';
import { deploymentFrom, withDeploymentOptions } from '../context.ts';

export function register(program: Command): void {
  withDeploymentOptions(
    program
      .command('rejects')
      .description('list the rejected rows of a sync with their reasons (values masked unless --show-values)')
      .argument('<sync>', 'sync name')
      .option('--run <id>', 'only the rejects of this run (its run id, as status and the Temporal UI show it)')
      .option('--reason <code>', 'only rejects with this reason code')
      .option('--limit <n>', 'at most this many rows', '50')
      .option('--show-values', 'show row values in full (they may hold personal data)')
      .option('--json', 'print JSON'),
  ).action((name: string, opts) => {
    const d = deploymentFrom(opts);
    if (!existsSync(d.statePath)) throw new Error(`state store ${d.statePath} not found: rejects are kept where the workers keep watermarks (set DWH_IMPORT_STATE or --state)`);
    if (opts.reason && !(REJECT_REASONS as readonly string[]).includes(opts.reason)) {
      const near = closest(opts.reason, REJECT_REASONS);
      throw new Error(`--reason ${opts.reason} is not a reject reason${near ? `; did you mean ${near}?` : ''} (reasons: ${REJECT_REASONS.join(', ')})`);
    }
    const state = new StateStore(d.statePath);
    try {
      if (!state.getWatermark(name) && state.listRejects(name, { limit: 1 }).length === 0 && existsSync(d.syncsDir)) {
        const names = checkSyncs([d.syncsDir]).syncs.map((s) => s.sync.name);
        if (!names.includes(name)) {
          const near = closest(name, names);
          throw new Error(`no sync named "${name}" in ${d.syncsDir}${near ? `; did you mean "${near}"?` : ''} (syncs: ${names.join(', ') || 'none'})`);
        }
      }
      const limit = Math.max(1, Number(opts.limit) || 50);
      const all = state.listRejects(name, { runId: opts.run, limit: opts.run || opts.reason ? 1_000_000 : limit });
      const matching = opts.reason ? all.filter((r) => r.reason === opts.reason) : all;
      const counts: Record<string, number> = {};
      if (opts.run || opts.reason) for (const r of matching) counts[r.reason] = (counts[r.reason] ?? 0) + 1;
      else Object.assign(counts, state.rejectCounts(name));
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      const shown = matching.slice(0, limit);
      const fmt = opts.showValues ? showValue : maskValue;
      const rows = shown.map((r) => ({
        rowKey: r.rowKey,
        reason: r.reason,
        column: r.column,
        detail: opts.showValues ? r.detail : maskDetail(r.detail, r.row),
        runId: r.runId,
        recordedAt: r.recordedAt,
        row: r.row ? Object.fromEntries(Object.entries(r.row).map(([k, v]) => [k, opts.showValues ? v : fmt(v)])) : undefined,
      }));
      if (opts.json) {
        console.log(JSON.stringify({ sync: name, run: opts.run ?? null, total, byReason: counts, masked: !opts.showValues, rejects: rows }, null, 2));
        return;
      }
      const scope = opts.run ? `run ${opts.run}` : 'all runs';
      if (total === 0) {
        console.log(`no rejected rows for ${name} (${scope}${opts.reason ? `, reason ${opts.reason}` : ''}) in ${d.statePath}`);
        return;
      }
      console.log(`${num(total)} rejected row(s) of ${name} (${scope}): ${reasons(counts)}`);
      console.log(`showing ${num(shown.length)}, newest first${opts.showValues ? '' : '; values masked by shape (letters x/X, digits 9): --show-values to see them'}`);
      for (const r of shown) {
        console.log('');
        console.log(`${r.rowKey}  ${r.reason}${r.column ? ` (column ${r.column})` : ''}  run ${r.runId}  ${timeText(r.recordedAt)}`);
        console.log(`  ${opts.showValues ? r.detail : maskDetail(r.detail, r.row)}`);
        if (r.row) console.log(`  row: ${Object.entries(r.row).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')}`);
      }
    } finally {
      state.close();
    }
  });
}

/**
 * `dwh-import preview <sync> [--limit N]`: reads the first N rows of the sync's source in cursor order
 * (change-detection timestamp, tie-break key), maps them, and prints each event exactly as it would be
 * sent (Klaviyo's bulk wire JSON) and each reject with its reason and the row's values. Sends nothing,
 * reads no watermark, writes no state.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { loadSyncs } from '../../config/discover.ts';
import { loadConnectionFile, loadSyncFile } from '../../config/load.ts';
import type { SyncConfig } from '../../config/types.ts';
import { openReader } from '../../activities/connect.ts';
import { resolveColumns } from '../../activities/sync.ts';
import type { ColumnKind } from '../../activities/warehouse/types.ts';
import { compileMapper } from '../../mapping/map-row.ts';
import { previewRows, type Preview } from '../../mapping/preview.ts';
import { deploymentFrom, withDeploymentOptions } from '../context.ts';
import { num, reasons, warningsNote } from '../format.ts';

/**
 * The latest canonical literal of a change-detection column: "read everything". A nanosecond
 * timestamp (DuckDB TIMESTAMP_NS: 64-bit nanoseconds since 1970) ends on 2262-04-11.
 */
function farFuture(kind: ColumnKind, sqlType: string): string {
  if (kind === 'date') return '9999-12-31';
  if (/^TIMESTAMP_NS\b/i.test(sqlType)) return '2262-04-10T00:00:00.000000000'; // a day short of the end, kept clear of DuckDB's infinity
  return kind === 'timestamp_tz' ? '9999-12-31T23:59:59.999999Z' : '9999-12-31T23:59:59.999999';
}

/** A sync by name from the syncs folder, or from a YAML file path. @throws Error listing the known names. */
function findSync(nameOrFile: string, syncsDir: string): { sync: SyncConfig; file: string } {
  if (/\.ya?ml$/i.test(nameOrFile) && existsSync(nameOrFile)) return { sync: loadSyncFile(nameOrFile), file: nameOrFile };
  const all = loadSyncs([syncsDir]);
  const hit = all.find((s) => s.sync.name === nameOrFile);
  if (!hit) throw new Error(`no sync named "${nameOrFile}" in ${syncsDir} (syncs: ${all.map((s) => s.sync.name).join(', ') || 'none'})`);
  return hit;
}

function text(p: Preview, header: string, nullChange: number): string {
  const lines = [header, ''];
  for (const r of p.rows) {
    if (r.ok) {
      lines.push(`row ${r.row}: event ${r.unique_id}`);
      for (const w of r.warnings ?? []) lines.push(`  warning ${w.reason} (${w.column}): ${w.detail ?? ''}`);
      lines.push(indent(JSON.stringify({ profile: r.profile, event: r.event }, null, 2)));
    } else {
      lines.push(`row ${r.row}: rejected ${r.reject.reason}${r.reject.column ? ` (${r.reject.column})` : ''}: ${r.reject.detail}`);
      lines.push(`  row values ${JSON.stringify(r.values)}`);
    }
    lines.push('');
  }
  const pad = (k: string) => `  ${k.padEnd(18)}`;
  lines.push('summary (nothing was sent)');
  lines.push(`${pad('rows read')}${num(p.rows.length)}`);
  lines.push(`${pad('events')}${num(p.events)}`);
  const rejectedTotal = Object.values(p.rejected).reduce((a, b) => a + b, 0);
  lines.push(`${pad('rows rejected')}${num(rejectedTotal)}${rejectedTotal ? `: ${reasons(p.rejected)}` : ''}`);
  const w = reasons(p.warnings);
  if (w) lines.push(`${pad('warnings')}${w} (${warningsNote(p.warnings)})`);
  lines.push(`${pad('would send')}${num(p.requests)} bulk request(s), ${num(p.bytes)} bytes${p.duplicates ? `; ${num(p.duplicates)} repeated unique_id(s) dropped` : ''}`);
  if (nullChange) lines.push(`${pad('NULL change time')}${num(nullChange)} row(s) in the table have a NULL change timestamp: a run rejects them (null_change_timestamp)`);
  return lines.join('\n');
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

export function register(program: Command): void {
  withDeploymentOptions(
    program
      .command('preview')
      .description('map the first rows of a sync\'s source and print the events exactly as they would be sent, and the rejects with reasons; sends nothing')
      .argument('<sync>', 'sync name (or a sync YAML file)')
      .option('--limit <n>', 'rows to read, in cursor order', '10')
      .option('--backfill', 'show events as a backfill run sends them (backfill: true)')
      .option('--json', 'print one JSON document (rows, events, rejects, summary)')
      .option('--body', 'print the bulk request bodies exactly as they would be POSTed'),
  ).action(async (nameOrFile: string, opts) => {
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new Error(`--limit must be a whole number from 1 to 100000, not "${opts.limit}"`);
    const d = deploymentFrom(opts);
    const { sync } = findSync(nameOrFile, d.syncsDir);
    const connection = loadConnectionFile(d.connectionFile);
    const reader = await openReader(connection);
    try {
      const columns = await reader.describe(sync.source.table);
      const resolved = resolveColumns(sync, columns);
      const mapper = compileMapper(sync, columns);
      const page = await reader.readPage({
        table: sync.source.table,
        columns,
        change: resolved.change,
        tieBreaker: resolved.tieBreaker,
        after: null,
        until: farFuture(resolved.change.kind, resolved.change.sqlType),
        limit,
      });
      const rows = page.rows.slice(0, limit); // group mode may return a longer page
      const nulls = await reader.readNullChange({ table: sync.source.table, columns, change: resolved.change, limit: 1 });
      const backfill = Boolean(opts.backfill) || sync.options.backfill;
      const p = previewRows(mapper, columns, rows, backfill);
      if (opts.json) {
        console.log(JSON.stringify({ sync: sync.name, table: sync.source.table, backfill, nullChangeRows: nulls.total, ...p, bodies: opts.body ? p.bodies : undefined }, null, 2));
      } else if (opts.body) {
        console.log(JSON.stringify(p.bodies, null, 2));
      } else {
        const header = `preview of ${sync.name}: the first ${num(rows.length)} row(s) of ${sync.source.table} in cursor order (${resolved.change.name}${resolved.tieBreaker ? `, ${resolved.tieBreaker.name}` : ''})${backfill ? ', as a backfill' : ''}`;
        console.log(text(p, header, nulls.total));
      }
    } finally {
      await reader.close();
    }
  });
}

/**
 * `dwh-import reset <sync> --to <time>`: moves a sync's watermark deliberately, so that its next run
 * (re)loads every row changed at or after that time; `--clear` removes it (the next run reads the
 * whole table). Refuses while a run of the sync is going on, says what the move means, and asks for
 * confirmation unless `--yes`.
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { Client } from '@temporalio/client';
import { openReader } from '../../activities/connect.ts';
import { StateStore } from '../../activities/state/store.ts';
import { fractionDigits, settleBound, userTimeLiteral } from '../../incremental/bounds.ts';
import { compareCursor, compareTs, cursorSourceText, cursorText, type Cursor } from '../../incremental/cursor.ts';
import { durationSeconds } from '../../config/duration.ts';
import { connectTemporal } from '../../config/env.ts';
import { loadConnectionFile } from '../../config/load.ts';
import { tieBreakerName, type SyncConfig } from '../../config/types.ts';
import { num } from '../format.ts';
import { deploymentFrom, temporalFrom, withDeploymentOptions, withTemporalOptions } from '../context.ts';
import { findSync, runningRuns } from '../sync-lookup.ts';

const HELP = `
Semantics
  --to <time> sets the watermark so that the next run reads every row whose change timestamp
  (mapping.change_timestamp) is at or after <time>, up to now minus the settle delay. A time without an
  offset is read in the sync's options.timestamp_zone; on a DATE change column the whole day of <time>
  is read again. Moving back re-imports: Klaviyo keeps the first event of each unique_id, so rows it
  already has are not doubled (and changed rows do not update events already loaded). Moving forward
  skips rows: those changed before <time> and not loaded yet are never loaded by scheduled runs (a
  backfill can load them later).

Safety
  Refused while a run of the sync is going on (pause the schedule or wait). A run that starts after the
  reset reads the new watermark; a run that was preparing when it happened stops at its first commit
  (the watermark moves by compare-and-set only). Every move is kept in the state store's watermark log.

Examples
  dwh-import reset orders-placed --to 2024-05-01
  dwh-import reset orders-placed --to 2024-05-01T06:00:00Z --yes
  dwh-import reset orders-placed --clear
`;

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** Change column facts and row counts, read from the warehouse. */
async function inspect(sync: SyncConfig, connectionFile: string, to: string | undefined, current: Cursor | null) {
  const reader = await openReader(loadConnectionFile(connectionFile));
  try {
    const columns = await reader.describe(sync.source.table);
    const name = sync.mapping.change_timestamp;
    const change = columns.find((c) => c.name === name) ?? columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
    if (!change || !['timestamp_ntz', 'timestamp_tz', 'date'].includes(change.kind)) {
      throw new Error(`the change_timestamp column "${name}" of ${sync.source.table} is missing or not a TIMESTAMP/DATE`);
    }
    const tbName = tieBreakerName(sync);
    const tieBreaker = tbName ? columns.find((c) => c.name === tbName) ?? columns.find((c) => c.name.toLowerCase() === tbName.toLowerCase()) : undefined;
    const keyOrder = tieBreaker && ['integer', 'decimal', 'float'].includes(tieBreaker.kind) ? ('numeric' as const) : ('text' as const);
    const zone = sync.options.timestamp_zone;
    const target: Cursor | null = to === undefined ? null : { ts: userTimeLiteral(to, change.kind, zone, fractionDigits(change.sqlType), 'ceil'), key: null, inclusive: true };
    const until = settleBound(change.kind, Date.now(), durationSeconds(sync.options.settle_delay), zone, fractionDigits(change.sqlType));
    const count = async (after: Cursor | null) =>
      reader.countRows ? reader.countRows({ table: sync.source.table, change, tieBreaker, after, until }).catch(() => undefined) : undefined;
    if (target && compareTs(target.ts, until) > 0) {
      throw new Error(
        `--to ${to} is later than now minus the settle delay (${until}): a watermark there would skip every row changed until then, ` +
          'including rows not written yet. Pick a time in the past.',
      );
    }
    return { target, keyOrder, source: cursorSourceText(sync.source.table, change, tieBreaker), pendingNow: await count(current), pendingAfter: await count(target) };
  } finally {
    await reader.close();
  }
}

export function register(program: Command): void {
  withDeploymentOptions(
    withTemporalOptions(
      program
        .command('reset')
        .description("move a sync's watermark deliberately: the next run (re)loads every row changed at or after --to")
        .argument('<sync>', 'sync name')
        .option('--to <time>', 'change timestamp to restart from, inclusive (e.g. 2024-05-01 or 2024-05-01T06:00:00Z)')
        .option('--clear', 'remove the watermark: the next run reads the whole table')
        .option('-y, --yes', 'do not ask for confirmation')
        .addHelpText('after', HELP),
    ),
  ).action(async (name: string, opts) => {
    if (!!opts.to === !!opts.clear) throw new Error('give exactly one of --to <time> and --clear');
    const t = temporalFrom(opts);
    const d = deploymentFrom(opts);
    const connection = await connectTemporal(t);
    try {
      const client = new Client({ connection, namespace: t.namespace });
      const { sync } = await findSync(client, name, d.syncsDir);
      const running = (await runningRuns(client, sync.name)).filter((r) => r.kind === 'incremental');
      if (running.length) {
        throw new Error(
          `a run of ${sync.name} is in progress (${running.map((r) => r.workflowId).join(', ')}): it would stop at its next commit and its ` +
            'remaining rows would wait for the next run. Wait for it to end (`dwh-import pause ${sync.name}` keeps the schedule from starting another), then reset.',
        );
      }
      const state = new StateStore(d.statePath);
      try {
        const stored = state.getWatermark(sync.name);
        const current = stored?.cursor ?? null;
        const info = await inspect(sync, d.connectionFile, opts.to, current);
        const target = info.target;
        console.log(`sync ${sync.name}: watermark ${cursorText(current)}`);
        if (stored?.source && stored.source !== info.source) {
          console.log(`  it is a position in ${stored.source}; the sync now reads ${info.source}: after the reset it counts in the new one`);
        }
        console.log(`  reset to  ${target ? cursorText(target) : 'none: the next run reads every row'}`);
        const back = current === null ? false : target === null || compareCursor(target, current, info.keyOrder) < 0;
        if (info.pendingAfter !== undefined) {
          console.log(`  the next run will read ${num(info.pendingAfter)} row(s) (now: ${info.pendingNow === undefined ? 'unknown' : num(info.pendingNow)}), up to now minus the settle delay`);
        }
        if (back) {
          console.log('  moving back: rows already loaded are sent again; Klaviyo keeps one event per unique_id, so nothing doubles');
        } else if (current !== null) {
          const skipped = info.pendingNow !== undefined && info.pendingAfter !== undefined ? ` (${num(info.pendingNow - info.pendingAfter)} row(s) now)` : '';
          console.log(`  moving FORWARD: rows changed before the new watermark and not loaded yet${skipped} will never be loaded by scheduled runs`);
        }
        if (!opts.yes) {
          if (!process.stdin.isTTY) throw new Error('stdin is not a terminal: pass --yes to confirm the reset');
          if (!(await confirm(`Move the watermark of ${sync.name}? [y/N] `))) {
            console.log('nothing changed');
            return;
          }
        }
        state.resetWatermark(sync.name, target, `reset ${opts.to ? `--to ${opts.to}` : '--clear'} by ${process.env.USER ?? 'dwh-import'}`, info.source);
        console.log(`watermark of ${sync.name} is now ${target ? cursorText(target) : 'none'}; the next scheduled run (or \`dwh-import run ${sync.name}\`) reads from it`);
      } finally {
        state.close();
      }
    } finally {
      await connection.close();
    }
  });
}

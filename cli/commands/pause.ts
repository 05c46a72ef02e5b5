/** `dwh-import pause <sync> [--note]` and `dwh-import resume <sync> [--note]`. */
import type { Command } from 'commander';
import { Client } from '@temporalio/client';
import { connectTemporal } from '../../config/env.ts';
import { pauseSync, resumeSync } from '../../ops/operate.ts';
import { temporalFrom, withTemporalOptions } from '../context.ts';

export function register(program: Command): void {
  withTemporalOptions(
    program
      .command('pause')
      .description('pause the schedule of a sync (apply keeps it paused; a running run finishes; run still works by hand)')
      .argument('<sync>', 'sync name')
      .option('--note <text>', 'why (shown in status and the Temporal UI)'),
  ).action(async (name: string, opts) => {
    const t = temporalFrom(opts);
    const connection = await connectTemporal(t);
    try {
      const r = await pauseSync(new Client({ connection, namespace: t.namespace }), name, opts.note);
      console.log(r.changed ? `paused ${name}: no scheduled runs until dwh-import resume ${name}` : `${name} was already paused (${r.note || 'no note'})`);
      console.log(`  note: ${r.note}`);
    } finally {
      await connection.close();
    }
  });
  withTemporalOptions(
    program
      .command('resume')
      .description('resume the schedule of a paused sync')
      .argument('<sync>', 'sync name')
      .option('--note <text>', 'why (shown in the Temporal UI)'),
  ).action(async (name: string, opts) => {
    const t = temporalFrom(opts);
    const connection = await connectTemporal(t);
    try {
      const r = await resumeSync(new Client({ connection, namespace: t.namespace }), name, opts.note);
      console.log(r.changed ? `resumed ${name}: scheduled runs start again` : `${name} was not paused`);
      if (r.warning) console.log(`  warning: ${r.warning}`);
    } finally {
      await connection.close();
    }
  });
}

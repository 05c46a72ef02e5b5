/** `dwh-import run <sync> [--wait]`: triggers a run now through the sync's schedule. */
import type { Command } from 'commander';
import { Client } from '@temporalio/client';
import { connectTemporal } from '../../config/env.ts';
import { triggerRun } from '../../ops/schedules.ts';
import { formatRun } from '../format.ts';
import { temporalFrom, withTemporalOptions } from '../context.ts';

export function register(program: Command): void {
  withTemporalOptions(
    program
      .command('run')
      .description('trigger a run of a sync now (through its schedule, so the watermark chain is kept)')
      .argument('<sync>', 'sync name')
      .option('--wait', 'wait for the run to end and print its result'),
  ).action(async (name: string, opts) => {
    const t = temporalFrom(opts);
    const connection = await connectTemporal(t);
    try {
      const client = new Client({ connection, namespace: t.namespace });
      const handle = await triggerRun(client, name);
      console.log(`started ${handle.workflowId}`);
      if (opts.wait) {
        const result = await handle.result();
        console.log(`${name}\n${formatRun(result)}`);
      }
    } finally {
      await connection.close();
    }
  });
}

/** `dwh-import apply`: creates or updates one Temporal Schedule per sync file. */
import type { Command } from 'commander';
import { Client } from '@temporalio/client';
import { loadSyncs } from '../../config/discover.ts';
import { connectTemporal } from '../../config/env.ts';
import { upsertSchedule } from '../../ops/schedules.ts';
import { deploymentFrom, temporalFrom, withDeploymentOptions, withTemporalOptions } from '../context.ts';

export function register(program: Command): void {
  withDeploymentOptions(withTemporalOptions(program.command('apply').description('create or update the Temporal Schedule of every sync'))).action(
    async (opts) => {
      const t = temporalFrom(opts);
      const d = deploymentFrom(opts);
      const syncs = loadSyncs([d.syncsDir]);
      const connection = await connectTemporal(t);
      try {
        const client = new Client({ connection, namespace: t.namespace });
        for (const { sync, file } of syncs) {
          const what = await upsertSchedule(client, sync, t.taskQueue, file);
          console.log(`${what.padEnd(8)} schedule ${sync.name} (${file})`);
        }
      } finally {
        await connection.close();
      }
    },
  );
}

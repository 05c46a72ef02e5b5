/** `dwh-import status [sync] [--json]`: schedule, paused or not, next run, last runs, watermark, rejects by reason. */
import type { Command } from 'commander';
import { Client } from '@temporalio/client';
import { connectTemporal } from '../../config/env.ts';
import { openStateIfPresent, syncStatuses } from '../../ops/status.ts';
import { formatStatus } from '../ops-format.ts';
import { deploymentFrom, temporalFrom, withDeploymentOptions, withTemporalOptions } from '../context.ts';

export function register(program: Command): void {
  withDeploymentOptions(
    withTemporalOptions(
      program
        .command('status')
        .description('show each sync: schedule, paused or not, next run, last run and its result, watermark, rejects by reason')
        .argument('[sync]', 'one sync (default: every sync managed by dwh-import in the namespace)')
        .option('--runs <n>', 'how many of the latest runs to sum up (at most 10)', '5')
        .option('--json', 'print JSON'),
    ),
  ).action(async (name: string | undefined, opts) => {
    const t = temporalFrom(opts);
    const d = deploymentFrom(opts);
    const state = openStateIfPresent(d.statePath);
    const connection = await connectTemporal(t);
    try {
      const client = new Client({ connection, namespace: t.namespace });
      const all = await syncStatuses(client, { name, state, recentRuns: Math.min(10, Math.max(1, Number(opts.runs) || 5)) });
      if (opts.json) console.log(JSON.stringify(name ? all[0] : all, null, 2));
      else if (all.length === 0) console.log(`no syncs managed by dwh-import in namespace ${t.namespace} (run dwh-import apply)`);
      else console.log(all.map((s) => formatStatus(s, { uiUrl: t.uiUrl, namespace: t.namespace, statePath: d.statePath })).join('\n\n'));
    } finally {
      state?.close();
      await connection.close();
    }
  });
}

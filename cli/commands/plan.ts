/**
 * `dwh-import plan [--prune] [--json]`: what `apply` would change, like `terraform plan
 * -detailed-exitcode`. Exit code 0: no changes; 2: changes; 1: error (bad YAML, unreachable server,
 * a sync name taken by a schedule dwh-import does not manage).
 */
import type { Command } from 'commander';
import { Client } from '@temporalio/client';
import { loadSyncs, type LoadedSync } from '../../config/discover.ts';
import { connectTemporal, type TemporalSettings } from '../../config/env.ts';
import { computePlan, memoPath, planErrors, planHasChanges, type Plan } from '../../ops/plan.ts';
import { formatPlan } from '../ops-format.ts';
import { deploymentFrom, temporalFrom, withDeploymentOptions, withTemporalOptions } from '../context.ts';

/** Loads the sync files (throws ConfigError before any server call) and computes the plan. */
export async function withPlan<T>(
  opts: Record<string, unknown>,
  prune: boolean,
  fn: (ctx: { client: Client; plan: Plan; syncs: LoadedSync[]; t: TemporalSettings; syncsDir: string }) => Promise<T>,
): Promise<T> {
  const t = temporalFrom(opts);
  const d = deploymentFrom(opts);
  const syncs = loadSyncs([d.syncsDir]).map((s) => ({ ...s, file: memoPath(d.syncsDir, s.file) }));
  const connection = await connectTemporal(t);
  try {
    const client = new Client({ connection, namespace: t.namespace });
    const plan = await computePlan(client, { namespace: t.namespace, taskQueue: t.taskQueue, syncs, prune });
    return await fn({ client, plan, syncs, t, syncsDir: d.syncsDir });
  } finally {
    await connection.close();
  }
}

export function register(program: Command): void {
  withDeploymentOptions(
    withTemporalOptions(
      program
        .command('plan')
        .description('show what apply would create, update or delete (exit code 0: no changes, 2: changes, 1: error)')
        .option('--prune', 'also plan to delete managed schedules whose sync file is gone')
        .option('--json', 'print the plan as JSON'),
    ),
  ).action(async (opts) => {
    await withPlan(opts, !!opts.prune, async ({ plan, syncs, t, syncsDir }) => {
      const errors = planErrors(plan);
      const changes = planHasChanges(plan);
      if (opts.json) console.log(JSON.stringify({ ...plan, changes, errors }, null, 2));
      else console.log(formatPlan(plan, { address: t.address, syncsDir, files: syncs.length }));
      process.exitCode = errors.length ? 1 : changes ? 2 : 0;
    });
  });
}

/**
 * `dwh-import apply [--prune]`: makes the Temporal namespace match the sync files. Prints the plan,
 * then each step. Creates missing search attributes, creates and updates schedules in place (their
 * runs, paused state and watermarks survive), deletes managed schedules whose file is gone only with
 * --prune, never touches schedules it does not manage. Idempotent. Exit code 0 on success, 1 when a
 * file is invalid, the plan has a conflict (nothing is changed then) or a step failed.
 */
import type { Command } from 'commander';
import { applyPlan, planErrors, planHasChanges } from '../../ops/plan.ts';
import { formatPlan, stepLine } from '../ops-format.ts';
import { withDeploymentOptions, withTemporalOptions } from '../context.ts';
import { withPlan } from './plan.ts';

export function register(program: Command): void {
  withDeploymentOptions(
    withTemporalOptions(
      program
        .command('apply')
        .description('create or update the Temporal Schedule of every sync; --prune deletes managed schedules whose file is gone')
        .option('--prune', 'delete managed schedules whose sync file is gone')
        .option('--allow-empty', 'with --prune: allow deleting every managed schedule when the syncs folder holds no sync file'),
    ),
  ).action(async (opts) => {
    await withPlan(opts, !!opts.prune, async ({ client, plan, syncs, t, syncsDir }) => {
      console.log(formatPlan(plan, { address: t.address, syncsDir, files: syncs.length }));
      if (planErrors(plan).length) {
        console.log('\nNothing was changed.');
        process.exitCode = 1;
        return;
      }
      // A CI job pointed at the wrong (empty) folder must not wipe the deployment.
      const deletes = plan.entries.filter((e) => e.action === 'delete').length;
      if (opts.prune && syncs.length === 0 && deletes > 0 && !opts.allowEmpty) {
        console.log(
          `\nNothing was changed: ${syncsDir} holds no sync file, so --prune would delete all ${deletes} managed schedule(s). ` +
            'If that is meant, run again with --allow-empty.',
        );
        process.exitCode = 1;
        return;
      }
      if (!planHasChanges(plan)) return;
      console.log('');
      const steps = await applyPlan(client, plan, syncs, (s) => console.log(stepLine(s)));
      const failed = steps.filter((s) => !s.ok);
      const n = (a: string) => steps.filter((s) => s.ok && s.action === a).length;
      console.log(
        `\nApply ${failed.length ? 'incomplete' : 'complete'}: ${n('create')} created, ${n('update')} updated, ${n('delete')} deleted` +
          (failed.length ? `, ${failed.length} failed (run apply again once the cause is fixed)` : '') +
          '.',
      );
      if (failed.length) process.exitCode = 1;
    });
  });
}

/** The `dwh-import` command line. */
import { Command } from 'commander';
import { ConfigError } from '../config/load.ts';

const program = new Command('dwh-import')
  .description('Import event rows from a data warehouse into Klaviyo, declared as YAML and scheduled on Temporal')
  .showHelpAfterError();

/**
 * Command modules, loaded on demand: only the invoked command's module is imported, so `plan` or
 * `status` do not load the worker's native modules, DuckDB or the Klaviyo SDK (seconds of start-up).
 * `--help` and unknown commands load them all.
 */
const COMMANDS: [string[], () => Promise<{ register(p: Command): void }>][] = [
  [['demo'], () => import('./commands/demo.ts')],
  [['validate'], () => import('./commands/validate.ts')],
  [['preview'], () => import('./commands/preview.ts')],
  [['plan'], () => import('./commands/plan.ts')],
  [['apply'], () => import('./commands/apply.ts')],
  [['run'], () => import('./commands/run.ts')],
  [['backfill'], () => import('./commands/backfill.ts')],
  [['reset'], () => import('./commands/reset.ts')],
  [['status'], () => import('./commands/status.ts')],
  [['pause', 'resume'], () => import('./commands/pause.ts')],
  [['rejects'], () => import('./commands/rejects.ts')],
  [['worker'], () => import('./commands/worker.ts')],
  [['local-api'], () => import('./commands/local-api.ts')],
  [['load-csv'], () => import('./commands/load-csv.ts')],
];
const invoked = process.argv.slice(2).find((a) => !a.startsWith('-'));
const chosen = COMMANDS.filter(([names]) => invoked !== undefined && names.includes(invoked));
for (const [, load] of chosen.length ? chosen : COMMANDS) (await load()).register(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(e.message);
  } else {
    console.error(`error: ${(e as Error).message}`);
    if (process.env.DWH_IMPORT_DEBUG) console.error((e as Error).stack);
  }
  process.exitCode = 1;
}

/** The `dwh-import` command line. */
import { Command } from 'commander';
import { ConfigError } from '../config/load.ts';
import { register as apply } from './commands/apply.ts';
import { register as backfill } from './commands/backfill.ts';
import { register as demo } from './commands/demo.ts';
import { register as localApi } from './commands/local-api.ts';
import { register as preview } from './commands/preview.ts';
import { register as reset } from './commands/reset.ts';
import { register as run } from './commands/run.ts';
import { register as validate } from './commands/validate.ts';
import { register as worker } from './commands/worker.ts';

const program = new Command('dwh-import')
  .description('Import event rows from a data warehouse into Klaviyo, declared as YAML and scheduled on Temporal')
  .showHelpAfterError();

for (const r of [demo, validate, apply, run, backfill, reset, preview, worker, localApi]) r(program);

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

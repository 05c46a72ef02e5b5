/** `dwh-import validate [paths...]`: checks sync files (and the connection file) and prints every problem. */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError, formatProblem, loadConnectionFile, type ConfigProblem } from '../../config/load.ts';
import { loadSyncs } from '../../config/discover.ts';
import { deploymentFrom, withDeploymentOptions } from '../context.ts';

export function register(program: Command): void {
  withDeploymentOptions(
    program
      .command('validate')
      .description('check sync files against the schema and the rules; prints file:line:column: message per problem')
      .argument('[paths...]', 'sync files or folders (default: the syncs folder)')
      .option('--json', 'print problems as JSON (for CI annotations)'),
  ).action((paths: string[], opts) => {
    const d = deploymentFrom(opts);
    const problems: ConfigProblem[] = [];
    let count = 0;
    try {
      count = loadSyncs(paths.length ? paths : [d.syncsDir]).length;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
    }
    if (existsSync(d.connectionFile)) {
      try {
        loadConnectionFile(d.connectionFile);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(...e.problems);
      }
    }
    if (opts.json) console.log(JSON.stringify({ ok: problems.length === 0, problems }, null, 2));
    else if (problems.length) for (const p of problems) console.error(formatProblem(p));
    else console.log(`ok: ${count} sync file(s) valid`);
    process.exitCode = problems.length ? 1 : 0;
  });
}

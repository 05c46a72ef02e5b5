/**
 * `dwh-import validate [paths...]`: checks sync files (and the connection file) and prints every problem
 * as `file:line:column: message`; `--connect` also checks each sync against its table in the warehouse.
 * Exit code 1 when any problem is an error (with `--strict`, a warning too), else 0.
 */
import type { Command } from 'commander';
import { formatProblem, isError, type ConfigProblem } from '../../config/problems.ts';
import { validateConfig, type ValidateReport } from '../../config/validate.ts';
import { deploymentFrom, withDeploymentOptions } from '../context.ts';

/** GitHub Actions workflow command for one problem (an annotation on the file and line). */
export function githubAnnotation(p: ConfigProblem): string {
  const prop = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/:/g, '%3A').replace(/,/g, '%2C');
  const data = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  return `::${isError(p) ? 'error' : 'warning'} file=${prop(p.file)},line=${p.line},col=${p.column},title=${prop(`dwh-import ${p.code ?? 'validate'}`)}::${data(p.message)}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The human-readable report: problems on stderr, the summary (and with --connect, what each sync reads) on stdout. */
export function printReport(r: ValidateReport, out: (s: string) => void, err: (s: string) => void): void {
  for (const p of r.problems) err(formatProblem(p));
  for (const s of r.syncs) {
    if (!s.columns) continue;
    const c = s.columns;
    out(`${s.name} (${s.file}): ${c.table}, ${plural(c.columnCount, 'column')}`);
    out(`  ${'metric'.padEnd(30)} ${s.metric}`);
    out(`  ${'schedule'.padEnd(30)} ${s.schedule}${s.nextRuns ? `, next ${s.nextRuns[0]}` : ''}`);
    for (const f of c.fields) out(`  ${f.field.padEnd(30)} ${f.column} ${f.sqlType}`);
    const props = c.properties.map((p) => (p.path.length > 1 ? `${p.column} -> ${p.path.join('.')}` : p.column));
    out(`  ${`properties (${c.properties.length})`.padEnd(30)} ${props.length ? props.join(', ') : 'none'}`);
  }
  const what = `${plural(r.files.length, 'sync file')}${r.connectionFile ? ` and ${r.connectionFile}` : ''}`;
  const summary = r.errors
    ? `${plural(r.errors, 'error')}${r.warnings ? `, ${plural(r.warnings, 'warning')}` : ''} in ${what}`
    : `ok: ${what} valid${r.warnings ? ` (${plural(r.warnings, 'warning')})` : ''}${r.syncs.length ? `: ${r.syncs.map((s) => s.name).join(', ')}` : ''}`;
  (r.errors ? err : out)(summary);
  if (!r.connected && r.errors === 0) out('note: table, column types and "___" property paths are checked against the warehouse with --connect');
}

export function register(program: Command): void {
  withDeploymentOptions(
    program
      .command('validate')
      .description('check sync files and the connection file against their schemas and rules; prints file:line:column: message per problem')
      .argument('[paths...]', 'sync files or folders (default: the syncs folder)')
      .option('--connect', 'also open the warehouse: the table exists, mapped columns exist with fitting types; lists the columns that become properties')
      .option('--json', 'print the report as JSON (same as --format json)')
      .option('--format <format>', 'text, json, or github (GitHub Actions annotations)', 'text')
      .option('--strict', 'exit non-zero on warnings too'),
  ).action(async (paths: string[], opts) => {
    const d = deploymentFrom(opts);
    const format = opts.json ? 'json' : String(opts.format);
    if (!['text', 'json', 'github'].includes(format)) throw new Error(`--format must be text, json or github; got "${format}"`);
    const report = await validateConfig({ paths: paths.length ? paths : [d.syncsDir], connectionFile: d.connectionFile, connect: Boolean(opts.connect) });
    if (format === 'json') console.log(JSON.stringify(report, null, 2));
    else if (format === 'github') {
      for (const p of report.problems) console.log(githubAnnotation(p));
      printReport({ ...report, problems: [] }, (s) => console.log(s), (s) => console.log(s));
    } else printReport(report, (s) => console.log(s), (s) => console.error(s));
    process.exitCode = report.errors > 0 || (opts.strict && report.warnings > 0) ? 1 : 0;
  });
}

/**
 * `dwh-import validate` as a data engineer and a CI job run it: the real CLI in a child process,
 * its exit code, `file:line:column: message` on stderr, `--json`, GitHub annotations, `--strict`.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers/duckdb.ts';

const ROOT = join(import.meta.dirname, '..');
const run = promisify(execFile);
const dir = tempDir('dwh-import-cli-');
const noConnection = join(dir, 'no-connection.yaml');

async function validate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [join(ROOT, 'bin', 'dwh-import.js'), 'validate', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const bad = 'test/fixtures/config/invalid';

describe('dwh-import validate', () => {
  it('the example syncs and connection.yaml: exit 0', async () => {
    const r = await validate();
    expect(r).toEqual({
      code: 0,
      stdout:
        'ok: 5 sync files and connection.yaml valid: app-events, loyalty-points, shop-orders, sms-replies, support-tickets\n' +
        'note: table, column types and "___" property paths are checked against the warehouse with --connect\n',
      stderr: '',
    });
  });

  it('bad files: every problem as file:line:column: message, exit 1', async () => {
    const r = await validate(`${bad}/metric-both.yaml`, `${bad}/cron-hour-out-of-range.yaml`, `${bad}/tab-indentation.yaml`, '--connection', noConnection);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([
      `${bad}/metric-both.yaml:6:3: metric: give either "name" (one metric for every row) or "column" (the metric name per row), not both`,
      // Both corpus files are copies of one sync: the name clash across files is reported too.
      `${bad}/cron-hour-out-of-range.yaml:1:7: sync name "web-orders" is already used by ${bad}/metric-both.yaml:1:7; each sync needs its own name (it is the Temporal Schedule id)`,
      `${bad}/cron-hour-out-of-range.yaml:16:12: schedule.cron: 24 is out of range for the hour field (0-23)`,
      `${bad}/tab-indentation.yaml:13:1: a tab is used for indentation; YAML indents with spaces only`,
      '4 errors in 3 sync files',
      '',
    ]);
  });

  it('--json: the whole report, machine-readable', async () => {
    const r = await validate(`${bad}/unknown-key-typo.yaml`, 'syncs/support-tickets.yaml', '--json', '--connection', noConnection);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report).toEqual({
      ok: false,
      errors: 1,
      warnings: 0,
      files: [`${bad}/unknown-key-typo.yaml`, 'syncs/support-tickets.yaml'],
      syncs: [
        {
          file: 'syncs/support-tickets.yaml',
          name: 'support-tickets',
          table: 'support.tickets',
          metric: '"Opened Support Ticket"',
          schedule: 'cron "0 * * * *" in UTC',
          nextRuns: expect.any(Array),
        },
      ],
      connected: false,
      problems: [
        {
          file: `${bad}/unknown-key-typo.yaml`,
          line: 2,
          column: 1,
          message: 'unknown key "descripton"; did you mean "description"?',
          code: 'schema-additionalProperties',
        },
      ],
    });
    expect(report.syncs[0].nextRuns).toHaveLength(3);
    for (const t of report.syncs[0].nextRuns) expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/);
  });

  it('--format github: workflow commands that annotate the line', async () => {
    const r = await validate(`${bad}/timezone-unknown.yaml`, '--format', 'github', '--connection', noConnection);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n')).toEqual([
      `::error file=${bad}/timezone-unknown.yaml,line=17,col=13,title=dwh-import timezone::schedule.timezone: "Europe/Londn" is not an IANA time zone name; did you mean "Europe/London"?`,
      '1 error in 1 sync file',
      '',
    ]);
  });

  it('warnings: exit 0, or 1 with --strict', async () => {
    const file = join(dir, 'warns.yaml');
    writeFileSync(file, 'name: warns\nsource: {table: t}\nmetric: {name: M}\nmapping: {event_timestamp: e, change_timestamp: c, profile: {email: m}}\noptions: {settle_delay: 0s}\n');
    const r = await validate(file, '--connection', noConnection);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`${file}:5:25: warning: options.settle_delay is 0s: rows of transactions that commit while a run reads can be skipped for good; a few minutes is safe\n`);
    expect(r.stdout.split('\n')[0]).toBe('ok: 1 sync file valid (1 warning): warns');
    expect((await validate(file, '--strict', '--connection', noConnection)).code).toBe(1);
  });
});

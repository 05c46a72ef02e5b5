/**
 * The operator commands through the real CLI against the real dev server, a real worker, DuckDB and
 * the local Klaviyo API: run (with and without --wait, on a paused schedule, of a failing sync),
 * status (text and JSON), pause/resume, rejects (masked, --show-values, --run, --json).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { startLocalKlaviyo, type LocalKlaviyo } from '../local-api/server.ts';
import type { SyncStatus } from '../ops/status.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { createNamespace, runCli, startNamespaceWorker } from './helpers/ops.ts';

const address = inject('temporalAddress');
const dir = tempDir();
const syncsDir = join(dir, 'syncs');
const dbPath = join(dir, 'warehouse.duckdb');
const statePath = join(dir, 'state.sqlite');
const KEY = 'pk_cli_ops_test_key';
let namespace: string;
let api: LocalKlaviyo;
let worker: Awaited<ReturnType<typeof startNamespaceWorker>>;
let connection: Connection;
let client: Client;
let env: Record<string, string>;
const uiPort = Number(address.split(':')[1]) + 1000;

const sync = (name: string, table: string) => `
name: ${name}
source:
  table: ${table}
metric:
  name: Clicked Link
mapping:
  event_timestamp: clicked_at
  change_timestamp: updated_at
  unique_id: click_id
  profile:
    email: email
    phone_number: phone
options:
  page_size: 1
  settle_delay: 1m
  default_phone_region: GB
`;

const cli = (...args: string[]) => runCli(args, env);

beforeAll(async () => {
  namespace = await createNamespace(address, 'cliops');
  mkdirSync(syncsDir);
  await duckdbExec(
    dbPath,
    'CREATE SCHEMA web',
    'CREATE TABLE web.clicks (click_id VARCHAR, email VARCHAR, phone VARCHAR, clicked_at TIMESTAMP, updated_at TIMESTAMP, url VARCHAR)',
    `INSERT INTO web.clicks VALUES
       ('c-1', 'ann@example.org', NULL,             '2026-02-01 09:00:00', '2026-02-01 09:00:05', '/a'),
       ('c-2', 'not-an-email',    NULL,             '2026-02-01 09:01:00', '2026-02-01 09:01:05', '/secret-page'),
       ('c-3', NULL,              '020 7946 0958',  '2026-02-01 09:02:00', '2026-02-01 09:02:05', '/c'),
       ('c-4', NULL,              NULL,             '2026-02-01 09:03:00', '2026-02-01 09:03:05', '/d'),
       ('c-5', 'cy@example.org',  NULL,             '2026-02-01 09:04:00', '2026-02-01 09:04:05', '/e')`,
  );
  writeFileSync(join(syncsDir, 'clicks.yaml'), sync('clicks', 'web.clicks'));
  writeFileSync(join(syncsDir, 'broken.yaml'), sync('broken', 'web.no_such_table'));
  api = await startLocalKlaviyo({ apiKeys: [KEY] });
  worker = await startNamespaceWorker({ address, namespace, connection: { type: 'duckdb', path: dbPath }, statePath, klaviyo: { apiKey: KEY, baseUrl: api.url } });
  connection = await Connection.connect({ address });
  client = new Client({ connection, namespace });
  env = { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace, DWH_IMPORT_TASK_QUEUE: worker.temporal.taskQueue, DWH_IMPORT_STATE: statePath, DWH_IMPORT_SYNCS: syncsDir };
  const applied = await cli('apply');
  expect(applied.code).toBe(0);
});

afterAll(async () => {
  for (const id of ['clicks', 'broken']) await client?.schedule.getHandle(id).delete().catch(() => undefined);
  await worker?.stop();
  await connection?.close();
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('operator commands', () => {
  it('status before any run: schedule, next run, no run, no watermark', async () => {
    const r = await cli('status', 'clicks');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('clicks  (syncs/clicks.yaml)');
    expect(lines[1]).toBe('  sync          web.clicks -> Klaviyo "Clicked Link", cron "0 * * * *" UTC');
    expect(lines[2]).toBe(`  schedule      cron "0 * * * *" UTC, task queue ${worker.temporal.taskQueue}`);
    expect(lines[3]).toMatch(/^ {2}state {9}active; next run \d{4}-\d{2}-\d{2} \d{2}:00:00 UTC \(in (\d+m \d{2}s|\d+s|\d+ ms)\)$/);
    expect(lines[4]).toBe('  last run      none yet');
    expect(lines[5]).toBe('  watermark     none (never committed)');
    expect(lines[6]).toBe(`  Temporal UI   http://localhost:${uiPort}/namespaces/${namespace}/schedules/clicks`);
  });

  it('run --wait follows the run with a progress line and prints its result', async () => {
    api.setFaults({ slowMs: 1500 }); // five one-row pages: long enough to see progress
    const r = await cli('run', 'clicks', '--wait');
    api.setFaults({});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^started clicks-\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z\\n  http://localhost:${uiPort}/namespaces/${namespace}/workflows/clicks-`));
    expect(r.stdout).toMatch(/\npage \d+ \| rows \d+ \| events \d+( \(\d+\/s\))? \| rejected \d+( \| at 2026-02-01 09:0\d:05 of <= \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})?\n/);
    const result = r.stdout.slice(r.stdout.indexOf('clicks: run completed'));
    expect(result.split('\n').slice(0, 7)).toEqual([
      'clicks: run completed',
      '  rows read         5 in 6 page(s)',
      '  events accepted   3',
      '  rows rejected     2: invalid_email 1, missing_identifier 1',
      '  watermark before  none (never committed)',
      '  watermark after   2026-02-01T09:04:05.000000 / key c-5',
      expect.stringMatching(new RegExp(`^  run {15}http://localhost:${uiPort}/namespaces/${namespace}/workflows/clicks-`)),
    ]);
  });

  it('status after the run: its result, the watermark, rejects of the last runs by reason (text and JSON)', async () => {
    const r = await cli('status', 'clicks');
    expect(r.stdout).toMatch(/\n {2}last run {6}completed \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC \((\d+s|\d+ ms) ago, took (\d+s|\d+ ms)\): 5 rows read, 3 events accepted, 2 rejected \(invalid_email 1, missing_identifier 1\)\n/);
    expect(r.stdout).toMatch(/\n {16}clicks-\S+, run id [0-9a-f-]{36}\n/);
    expect(r.stdout).toMatch(/\n {2}watermark {5}2026-02-01T09:04:05\.000000 \/ key c-5 \(committed \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC\)\n/);
    expect(r.stdout).toContain('\n  last 1 run(s) 5 rows read, 3 events accepted, rejected: invalid_email 1, missing_identifier 1\n');

    const j = await cli('status', '--json');
    const all = JSON.parse(j.stdout) as SyncStatus[];
    expect(all.map((s) => s.sync)).toEqual(['broken', 'clicks']);
    const clicks = all[1];
    expect(clicks).toMatchObject({
      file: 'syncs/clicks.yaml',
      schedule: 'cron "0 * * * *" UTC',
      paused: false,
      watermark: { cursor: { ts: '2026-02-01T09:04:05.000000', key: 'c-5' }, source: 'state store' },
      recent: { runs: 1, failed: 0, rowsRead: 5, eventsAccepted: 3, rejected: { invalid_email: 1, missing_identifier: 1 } },
      lastRun: { status: 'COMPLETED', result: { rowsRead: 5, eventsAccepted: 3, rejectedTotal: 2, watermarkAfter: { ts: '2026-02-01T09:04:05.000000', key: 'c-5' } } },
    });
    expect(all[0]).toMatchObject({ sync: 'broken', watermark: { cursor: null, source: 'state store' } });
    expect(all[0].lastRun).toBeUndefined();
  });

  it('rejects lists the rejected rows with reasons, values masked unless --show-values', async () => {
    const r = await cli('rejects', 'clicks');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2 rejected row(s) of clicks (all runs): invalid_email 1, missing_identifier 1');
    expect(r.stdout).toContain('values masked by shape (letters x/X, digits 9): --show-values to see them');
    expect(r.stdout).toMatch(/\nc-2 {2}invalid_email \(column email\) {2}run [0-9a-f-]{36} {2}\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC\n {2}"xxx-xx-xxxxx" is not a valid email address; no other valid profile identifier\n {2}row: click_id="x-9" email="xxx-xx-xxxxx" phone=NULL clicked_at="9999-99-99X99:99:99\.999999" updated_at="9999-99-99X99:99:99\.999999" url="\/xxxxxx-xxxx"\n/);
    expect(r.stdout).toContain('c-4  missing_identifier (column email, phone)');
    expect(r.stdout).toContain('  no profile identifier: "email", "phone" are all NULL or empty\n');
    expect(r.stdout).not.toContain('not-an-email');
    expect(r.stdout).not.toContain('secret-page');

    const shown = await cli('rejects', 'clicks', '--show-values', '--reason', 'invalid_email');
    expect(shown.stdout).toContain('1 rejected row(s) of clicks (all runs): invalid_email 1');
    expect(shown.stdout).toContain('  "not-an-email" is not a valid email address; no other valid profile identifier\n  row: click_id="c-2" email="not-an-email" phone=NULL');
    expect(shown.stdout).toContain('url="/secret-page"');

    const j = JSON.parse((await cli('rejects', 'clicks', '--json')).stdout);
    expect(j).toMatchObject({ sync: 'clicks', total: 2, byReason: { invalid_email: 1, missing_identifier: 1 }, masked: true });
    const runId = j.rejects[0].runId as string;
    expect(JSON.stringify(j)).not.toContain('not-an-email');
    const byRun = await cli('rejects', 'clicks', '--run', runId);
    expect(byRun.stdout).toContain(`2 rejected row(s) of clicks (run ${runId})`);
    const other = await cli('rejects', 'clicks', '--run', '00000000-0000-0000-0000-000000000000');
    expect(other.stdout).toBe(`no rejected rows for clicks (run 00000000-0000-0000-0000-000000000000) in ${statePath}\n`);
    // Typos are errors, not empty lists.
    const typo = await cli('rejects', 'clicks', '--reason', 'invalid_emial');
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/^error: --reason invalid_emial is not a reject reason; did you mean invalid_email\? \(reasons: missing_metric, /);
    const unknown = await cli('rejects', 'clickz');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: no sync named "clickz" in \S+; did you mean "clicks"\? \(syncs: /);
  });

  it('pause shows in status; run still works by hand on a paused schedule; resume', async () => {
    const p = await cli('pause', 'clicks', '--note', 'CRM migration');
    expect(p.stdout).toMatch(/^paused clicks: no scheduled runs until dwh-import resume clicks\n {2}note: paused by \S+@\S+ with dwh-import pause: CRM migration\n$/);
    const s = await cli('status', 'clicks');
    expect(s.stdout).toMatch(/\n {2}state {9}PAUSED: paused by \S+ with dwh-import pause: CRM migration\n/);
    expect(s.stdout).not.toContain('next run');

    const r = await cli('run', 'clicks', '--wait');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^started clicks-\S+ \(the schedule is paused; this run was started by hand\)\n/);
    expect(r.stdout).toContain('  result            no new rows since the watermark: nothing loaded');
    expect(r.stdout).toContain('  watermark before  2026-02-01T09:04:05.000000 / key c-5');

    const again = await cli('pause', 'clicks');
    expect(again.stdout).toContain('clicks was already paused (paused by');
    const resumed = await cli('resume', 'clicks', '--note', 'done');
    expect(resumed.stdout).toBe('resumed clicks: scheduled runs start again\n');
    expect((await client.schedule.getHandle('clicks').describe()).state).toMatchObject({ paused: false, note: expect.stringMatching(/^resumed by \S+ with dwh-import resume: done$/) });
  });

  it('a failing run ends with exit code 1 and the reason; status shows it', async () => {
    const r = await cli('run', 'broken', '--wait');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\nbroken: run failed: Workflow execution failed: Activity task failed: .*no_such_table/);
    const s = await cli('status', 'broken');
    expect(s.stdout).toMatch(/\n {2}last run {6}failed \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC \((\d+s|\d+ ms) ago\): .*no_such_table/);
    expect(s.stdout).toContain('last 1 run(s) 0 rows read, 0 events accepted, no rejects; 1 run(s) did not complete');
  });

  it('names an unknown sync clearly', async () => {
    for (const args of [['run', 'nope'], ['status', 'nope'], ['pause', 'nope']]) {
      const r = await cli(...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`error: no schedule for sync "nope" in namespace ${namespace}: create it with dwh-import apply (or check --namespace)\n`);
    }
  });
});

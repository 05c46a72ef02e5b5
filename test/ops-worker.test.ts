/**
 * The worker as operators run it (`dwh-import worker` as a subprocess) and what the Temporal UI shows:
 * JSON-lines logs without the API key, the Prometheus endpoint (rows, events, rejects by reason,
 * Klaviyo latency and 429s, watermark), the run's static summary, activity summaries per page, its
 * live details, the EventSyncName search attribute and the result shape.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { startLocalKlaviyo, type LocalKlaviyo } from '../local-api/server.ts';
import { triggerRun } from '../ops/schedules.ts';
import type { SyncRunResult } from '../workflows/index.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { BIN, createNamespace, runCli } from './helpers/ops.ts';

const address = inject('temporalAddress');
const dir = tempDir();
const SECRET = 'pk_worker_test_5ecret_do_not_log';
const TQ = `tq-worker-${Date.now()}`;
const SYNC = 'signups';
let namespace: string;
let api: LocalKlaviyo;
let connection: Connection;
let client: Client;
let child: ChildProcess;
let stdout = '';
let stderr = '';
let metricsUrl: string;
let result: SyncRunResult;
let workflowId: string;

function lines(): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; worker stdout:\n${stdout}\nstderr:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  namespace = await createNamespace(address, 'worker');
  const db = join(dir, 'warehouse.duckdb');
  await duckdbExec(
    db,
    'CREATE SCHEMA crm',
    'CREATE TABLE crm.signups (signup_id INTEGER, email VARCHAR, signed_up_at TIMESTAMP, updated_at TIMESTAMP, plan VARCHAR)',
    `INSERT INTO crm.signups VALUES
       (1, 'a@example.org', '2026-03-01 08:00:00', '2026-03-01 08:00:01', 'free'),
       (2, 'b@example.org', '2026-03-01 08:01:00', '2026-03-01 08:01:01', 'pro'),
       (3, NULL,            '2026-03-01 08:02:00', '2026-03-01 08:02:01', 'pro'),
       (4, 'c@example.org', '2026-03-01 08:03:00', '2026-03-01 08:03:01', 'free'),
       (5, 'bad@',          '2026-03-01 08:04:00', '2026-03-01 08:04:01', 'free')`,
  );
  mkdirSync(join(dir, 'syncs'));
  writeFileSync(join(dir, 'connection.yaml'), 'type: duckdb\npath: warehouse.duckdb\n');
  writeFileSync(
    join(dir, 'syncs', `${SYNC}.yaml`),
    `name: ${SYNC}\nsource:\n  table: crm.signups\nmetric:\n  name: Signed Up\nmapping:\n  event_timestamp: signed_up_at\n  change_timestamp: updated_at\n  unique_id: signup_id\n  profile:\n    email: email\noptions:\n  page_size: 2\n  settle_delay: 1m\n`,
  );
  api = await startLocalKlaviyo({ apiKeys: [SECRET], faults: { burst429: 2 } });
  const env = {
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
    DWH_IMPORT_TASK_QUEUE: TQ,
    DWH_IMPORT_STATE: join(dir, 'state.sqlite'),
    DWH_IMPORT_CONNECTION: join(dir, 'connection.yaml'),
    DWH_IMPORT_SYNCS: join(dir, 'syncs'),
  };
  const applied = await runCli(['apply'], env);
  expect(applied.code).toBe(0);
  child = spawn(process.execPath, [BIN, 'worker', '--metrics-port', '0', '--metrics-host', '127.0.0.1'], {
    env: { ...process.env, ...env, TEMPORAL_CONFIG_FILE: '/nonexistent.toml', KLAVIYO_API_KEY: SECRET, KLAVIYO_BASE_URL: api.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const started = await waitFor('worker started', () => lines().find((l) => l.msg === 'worker started'));
  metricsUrl = started.metrics as string;
  connection = await Connection.connect({ address });
  client = new Client({ connection, namespace });
  const handle = await triggerRun(client, SYNC);
  workflowId = handle.workflowId;
  result = await handle.result();
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await client?.schedule.getHandle(SYNC).delete().catch(() => undefined);
  await connection?.close();
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the worker process', () => {
  it('returns a compact result: counts, rejects by reason, watermark before and after', () => {
    expect(result).toMatchObject({
      sync: SYNC,
      mode: 'incremental',
      rowsRead: 5,
      eventsAccepted: 3,
      rejected: { missing_identifier: 1, invalid_email: 1 },
      rejectedTotal: 2,
      pages: 3,
      throttled: 2,
      watermarkBefore: null,
      watermarkAfter: { ts: '2026-03-01T08:04:01.000000', key: '5' },
    });
  });

  it('serves Prometheus metrics: rows, events, rejects by reason, pages, watermark, Klaviyo latency and 429s', async () => {
    const text = await (await fetch(metricsUrl)).text();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    expect(value(`dwh_import_rows_read_total{sync="${SYNC}"}`)).toBe(5);
    expect(value(`dwh_import_events_loaded_total{sync="${SYNC}"}`)).toBe(3);
    expect(value(`dwh_import_rows_rejected_total{sync="${SYNC}",reason="missing_identifier"}`)).toBe(1);
    expect(value(`dwh_import_rows_rejected_total{sync="${SYNC}",reason="invalid_email"}`)).toBe(1);
    expect(value(`dwh_import_pages_total{sync="${SYNC}",outcome="ok"}`)).toBe(3);
    expect(value(`dwh_import_page_duration_seconds_count{sync="${SYNC}"}`)).toBe(3);
    expect(value(`dwh_import_watermark_timestamp_seconds{sync="${SYNC}"}`)).toBe(Date.UTC(2026, 2, 1, 8, 4, 1) / 1000);
    expect(value('dwh_import_klaviyo_throttled_total{endpoint="/api/event-bulk-create-jobs"}')).toBe(2);
    expect(value('dwh_import_klaviyo_requests_total{endpoint="/api/event-bulk-create-jobs",status="429"}')).toBe(2);
    expect(value('dwh_import_klaviyo_requests_total{endpoint="/api/event-bulk-create-jobs",status="202"}')).toBe(2);
    expect(value('dwh_import_klaviyo_request_duration_seconds_count{endpoint="/api/event-bulk-create-jobs",status="202"}')).toBe(2);
    expect(text).toContain('# TYPE dwh_import_klaviyo_request_duration_seconds histogram');
    expect(text).toMatch(/\nprocess_resident_memory_bytes \d+/);
  });

  it('logs JSON lines: start, one line per page, the workflow log; never the API key', () => {
    const all = lines();
    for (const l of all) expect(l).toMatchObject({ level: expect.any(String), time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T.*Z$/), msg: expect.any(String) });
    expect(all.find((l) => l.msg === 'worker started')).toMatchObject({
      namespace,
      taskQueue: TQ,
      warehouse: 'duckdb',
      klaviyo: api.url,
      temporal: `${address} (namespace ${namespace})`,
    });
    const pages = all.filter((l) => l.msg === 'page loaded');
    expect(pages.map((p) => [p.sync, p.rowsRead, p.eventsAccepted])).toEqual([
      [SYNC, 2, 2],
      [SYNC, 2, 1],
      [SYNC, 1, 0],
    ]);
    expect(pages[0]).toMatchObject({ rejected: {}, workflowId, attempt: 1, watermark: { ts: '2026-03-01T08:01:01.000000', key: '2' } });
    expect(pages[1]).toMatchObject({ rejected: { missing_identifier: 1 }, watermark: { ts: '2026-03-01T08:03:01.000000', key: '4' } });
    expect(pages[2]).toMatchObject({ rejected: { invalid_email: 1 }, done: true });
    expect(all.find((l) => l.msg === 'sync run prepared')).toMatchObject({ source: 'temporal', sdkComponent: 'workflow', sync: SYNC, workflowId });
    expect(stdout).not.toContain(SECRET);
    expect(stderr).not.toContain(SECRET);
  });

  it('shows the run in the Temporal UI: summary, page summaries, live details, search attribute', async () => {
    const handle = client.workflow.getHandle(workflowId);
    const d = await handle.describe();
    expect(await d.staticSummary()).toBe(`crm.signups -> Klaviyo "Signed Up", cron "0 * * * *" UTC`);
    const details = await d.staticDetails();
    expect(details).toContain(`Sync **${SYNC}**`);
    expect(details).toContain('- profile: email <- `email`');
    expect(workflowId.startsWith(`${SYNC}-`)).toBe(true);

    const history = await handle.fetchHistory();
    const summaries = await Promise.all(
      (history.events ?? [])
        .filter((e) => e.activityTaskScheduledEventAttributes)
        .map((e) => (e.userMetadata?.summary?.data ? Buffer.from(e.userMetadata.summary.data).toString('utf8') : '')),
    );
    expect(summaries).toEqual([
      '"check crm.signups and fix this run\'s bounds"',
      '"page 1 after none (never committed)"',
      '"page 2 after 2026-03-01T08:01:01.000000 / key 2"',
      '"page 3 after 2026-03-01T08:03:01.000000 / key 4"',
    ]);

    const meta = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
    expect(meta.currentDetails.split('\n')).toEqual([
      `**${SYNC}** loading: 3 page(s) done, started ${result.startedAt}`,
      '',
      '- rows read: 5; events accepted: 3; rejected: 2 (missing_identifier 1, invalid_email 1)',
      '- watermark: 2026-03-01T08:04:01.000000 / key 5 (before this run: none yet)',
      `- reads rows of \`crm.signups\` changed up to ${result.until} (now minus settle delay 1m)`,
      '- Klaviyo: 4 request(s), 2 answered 429 and retried',
    ]);

    const found = await waitFor('the run in visibility', async () => {
      const ids: string[] = [];
      for await (const w of client.workflow.list({ query: `EventSyncName = '${SYNC}'` })) ids.push(w.workflowId);
      return ids.length ? ids : undefined;
    }, 20_000);
    expect(found).toEqual([workflowId]);
  });

  it('stops cleanly on SIGTERM', async () => {
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    expect(lines().at(-1)).toMatchObject({ msg: 'worker stopped', taskQueue: TQ });
  });
});

/**
 * GitOps against the real dev server, through the real CLI (`node bin/dwh-import.js` subprocesses):
 * plan on an empty namespace, apply, plan without changes, an edited file gives exactly its diff,
 * apply keeps the watermark and the schedule's runs, an operator's pause survives apply, a removed
 * file is kept without --prune and deleted with it, a conflict changes nothing, drift on the server is
 * shown and undone, and a schedule not managed by the tool survives every command untouched.
 *
 * The file works in a namespace of its own (the shared server's `default` namespace holds other test
 * files' schedules), which also starts without the EventSyncName search attribute: apply creates it.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection, ScheduleNotFoundError, type ScheduleDescription } from '@temporalio/client';
import { StateStore } from '../activities/state/store.ts';
import { startLocalKlaviyo, type LocalKlaviyo } from '../local-api/server.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { createNamespace, runCli, startNamespaceWorker, type CliResult } from './helpers/ops.ts';

const address = inject('temporalAddress');
const dir = tempDir();
const syncsDir = join(dir, 'syncs');
const dbPath = join(dir, 'warehouse.duckdb');
const statePath = join(dir, 'state.sqlite');
const KEY = 'pk_gitops_test_key';
let namespace: string;
let api: LocalKlaviyo;
let worker: Awaited<ReturnType<typeof startNamespaceWorker>>;
let client: Client;
let connection: Connection;
let env: Record<string, string>;
const HAND_MADE = 'hand-made-report';

function syncYaml(name: string, extra: { pageSize?: number; description?: string; paused?: boolean; interval?: string } = {}): string {
  return [
    `name: ${name}`,
    ...(extra.description ? [`description: ${extra.description}`] : []),
    'source:',
    '  table: events.orders',
    'metric:',
    '  name: Placed Order',
    'mapping:',
    '  event_timestamp: placed_at',
    '  change_timestamp: updated_at',
    '  unique_id: order_id',
    '  profile:',
    '    email: email',
    'schedule:',
    extra.interval ? `  interval: ${extra.interval}` : '  cron: "0 3 * * *"',
    '  timezone: Europe/London',
    ...(extra.paused ? ['  paused: true'] : []),
    'options:',
    `  page_size: ${extra.pageSize ?? 2}`,
    '  settle_delay: 1m',
    '',
  ].join('\n');
}

function writeSync(name: string, text: string): void {
  writeFileSync(join(syncsDir, `${name}.yaml`), text);
}

const cli = (...args: string[]): Promise<CliResult> => runCli([...args, '--syncs', syncsDir], env);

async function describeSchedule(id: string): Promise<ScheduleDescription | null> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) return null;
    throw e;
  }
}

let handMadeBefore: ScheduleDescription;

/** The unmanaged schedule is exactly as created: same spec, action, state, memo. */
async function expectHandMadeUntouched(): Promise<void> {
  const d = await describeSchedule(HAND_MADE);
  expect(d).not.toBeNull();
  expect(d!.spec).toEqual(handMadeBefore.spec);
  expect(d!.action).toEqual(handMadeBefore.action);
  expect(d!.state).toEqual(handMadeBefore.state);
  expect(d!.memo).toEqual(handMadeBefore.memo);
}

beforeAll(async () => {
  namespace = await createNamespace(address, 'gitops');
  mkdirSync(syncsDir);
  await duckdbExec(
    dbPath,
    'CREATE SCHEMA events',
    'CREATE TABLE events.orders (order_id VARCHAR, email VARCHAR, placed_at TIMESTAMP, updated_at TIMESTAMP, sku VARCHAR)',
    `INSERT INTO events.orders VALUES
       ('o-1', 'ann@example.org', '2026-01-05 10:00:00', '2026-01-05 10:01:00', 'MUG'),
       ('o-2', 'bob@example.org', '2026-01-05 10:02:00', '2026-01-05 10:03:00', 'PEN'),
       ('o-3', NULL,              '2026-01-05 10:04:00', '2026-01-05 10:05:00', 'BAG')`,
  );
  api = await startLocalKlaviyo({ apiKeys: [KEY] });
  worker = await startNamespaceWorker({ address, namespace, connection: { type: 'duckdb', path: dbPath }, statePath, klaviyo: { apiKey: KEY, baseUrl: api.url } });
  connection = await Connection.connect({ address });
  client = new Client({ connection, namespace });
  env = { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace, DWH_IMPORT_TASK_QUEUE: worker.temporal.taskQueue, DWH_IMPORT_STATE: statePath };
  // A schedule somebody made by hand: dwh-import must never change or delete it.
  await client.schedule.create({
    scheduleId: HAND_MADE,
    spec: { intervals: [{ every: '1d' }] },
    action: { type: 'startWorkflow', workflowType: 'someoneElsesWorkflow', taskQueue: 'elsewhere', args: [] },
    state: { paused: true, note: 'made by hand' },
    memo: { owner: 'finance' },
  });
  handMadeBefore = (await describeSchedule(HAND_MADE))!;
  writeSync('orders-a', syncYaml('orders-a'));
  writeSync('orders-b', syncYaml('orders-b', { interval: '30m' }));
});

afterAll(async () => {
  for (const id of ['orders-a', 'orders-b', 'orders-c', HAND_MADE]) await client?.schedule.getHandle(id).delete().catch(() => undefined);
  await worker?.stop();
  await connection?.close();
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('plan and apply against the real server', () => {
  it('plans the search attribute and both schedules on an empty namespace (exit code 2) and changes nothing', async () => {
    const r = await cli('plan');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`Plan for namespace ${namespace} at ${address}, task queue ${worker.temporal.taskQueue}: 2 sync file(s) in ${syncsDir}`);
    expect(r.stdout).toContain(`+ search attribute EventSyncName (Keyword): created in namespace ${namespace}`);
    expect(r.stdout).toContain('+ create  orders-a (syncs/orders-a.yaml)\n      events.orders -> Klaviyo "Placed Order", cron "0 3 * * *" Europe/London');
    expect(r.stdout).toContain('+ create  orders-b (syncs/orders-b.yaml)\n      events.orders -> Klaviyo "Placed Order", every 30m');
    expect(r.stdout).toContain('Plan: 2 to create, 0 to update, 0 to delete, 0 unchanged.');
    expect(r.stdout).toContain('1 schedule(s) in the namespace are not managed by dwh-import and are left alone.');
    expect(await describeSchedule('orders-a')).toBeNull();

    const json = await cli('plan', '--json');
    expect(json.code).toBe(2);
    const plan = JSON.parse(json.stdout);
    expect(plan).toMatchObject({ namespace, prune: false, changes: true, errors: [], unmanaged: 1, searchAttributes: { missing: [{ name: 'EventSyncName', type: 'Keyword' }] } });
    expect(plan.entries.map((e: { name: string; action: string; file: string }) => [e.name, e.action, e.file])).toEqual([
      ['orders-a', 'create', 'syncs/orders-a.yaml'],
      ['orders-b', 'create', 'syncs/orders-b.yaml'],
    ]);
    await expectHandMadeUntouched();
  });

  it('apply creates the search attribute and the schedules; plan then shows no change (exit code 0)', async () => {
    const r = await cli('apply');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('created search attribute EventSyncName\ncreated  orders-a\ncreated  orders-b\n\nApply complete: 2 created, 0 updated, 0 deleted.');
    const sa = await connection.operatorService.listSearchAttributes({ namespace });
    expect(Object.keys(sa.customAttributes ?? {})).toContain('EventSyncName');

    const a = (await describeSchedule('orders-a'))!;
    expect(a.memo).toEqual({ managedBy: 'dwh-import', sync: 'orders-a' });
    expect(a.action.taskQueue).toBe(worker.temporal.taskQueue);
    expect(a.spec.timezone).toBe('Europe/London');
    expect(a.action.staticSummary).toBe('events.orders -> Klaviyo "Placed Order", cron "0 3 * * *" Europe/London');
    expect(a.action.memo).toMatchObject({ managedBy: 'dwh-import', sync: 'orders-a', file: 'syncs/orders-a.yaml' });
    expect(a.action.searchAttributes).toEqual({ EventSyncName: ['orders-a'] });
    expect(a.state).toMatchObject({ paused: false, note: 'managed by dwh-import from syncs/orders-a.yaml: change the YAML and run dwh-import apply; pause with dwh-import pause' });
    const b = (await describeSchedule('orders-b'))!;
    expect(b.spec.intervals).toEqual([expect.objectContaining({ every: 1_800_000 })]);

    const plan = await cli('plan');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('= unchanged: orders-a, orders-b');
    expect(plan.stdout).toContain('No changes: the schedules match the sync files (2 unchanged).');

    const again = await cli('apply');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No changes: the schedules match the sync files (2 unchanged).');
    expect(again.stdout).not.toContain('created');
    await expectHandMadeUntouched();
  });

  it('an edited file shows exactly its field-level diff, and apply keeps the watermark and the runs', async () => {
    const run = await runCli(['run', 'orders-a', '--wait'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('orders-a: run completed');
    expect(run.stdout).toContain('watermark after   2026-01-05T10:05:00.000000 / key o-3');
    const state = new StateStore(statePath);
    const watermark = state.getWatermark('orders-a');
    expect(watermark?.cursor).toEqual({ ts: '2026-01-05T10:05:00.000000', key: 'o-3' });

    const createdAt = (await describeSchedule('orders-a'))!.info.createdAt;
    writeSync('orders-a', syncYaml('orders-a', { pageSize: 500, description: 'Orders from the shop' }));
    const plan = await cli('plan');
    expect(plan.code).toBe(2);
    const block = plan.stdout.slice(plan.stdout.indexOf('~ update  orders-a'), plan.stdout.indexOf('= unchanged'));
    expect(block.trim().split('\n')).toEqual([
      '~ update  orders-a (syncs/orders-a.yaml)',
      '      + description: "Orders from the shop"',
      '      ~ options.page_size: 2 -> 500',
    ]);
    expect(plan.stdout).toContain('= unchanged: orders-b');
    expect(plan.stdout).toContain('Plan: 0 to create, 1 to update, 0 to delete, 1 unchanged.');

    const apply = await cli('apply');
    expect(apply.code).toBe(0);
    expect(apply.stdout).toContain('updated  orders-a\n\nApply complete: 0 created, 1 updated, 0 deleted.');
    expect(state.getWatermark('orders-a')).toEqual(watermark);
    const a = (await describeSchedule('orders-a'))!;
    expect(a.info.recentActions).toHaveLength(1);
    expect(a.info.createdAt).toEqual(createdAt);

    const second = await runCli(['run', 'orders-a', '--wait'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('no new rows since the watermark: nothing loaded');
    expect(second.stdout).toContain('watermark before  2026-01-05T10:05:00.000000 / key o-3');

    // Dropping the unique_id changes what the watermark counts in: plan says so before apply.
    const edited = syncYaml('orders-a', { pageSize: 500, description: 'Orders from the shop' });
    writeSync('orders-a', edited.replace('  unique_id: order_id\n', ''));
    const keyless = await cli('plan');
    expect(keyless.stdout).toContain('- mapping.unique_id: "order_id"');
    expect(keyless.stdout).toMatch(
      /the watermark is a position in \S+ ordered by \(updated_at, order_id\); this update reads \S+ ordered by \(updated_at\), so runs stop until you choose where it starts: dwh-import reset orders-a --to <time> \| --clear/,
    );
    writeSync('orders-a', edited);
    state.close();
    expect((await cli('plan')).code).toBe(0);
    await expectHandMadeUntouched();
  });

  it("keeps an operator's pause through apply, and applies a pause the YAML declares", async () => {
    const pause = await runCli(['pause', 'orders-a', '--note', 'warehouse maintenance'], env);
    expect(pause.code).toBe(0);
    expect(pause.stdout).toContain('paused orders-a: no scheduled runs until dwh-import resume orders-a');
    expect(pause.stdout).toMatch(/note: paused by \S+@\S+ with dwh-import pause: warehouse maintenance/);

    writeSync('orders-b', syncYaml('orders-b', { interval: '30m', paused: true }));
    const plan = await cli('plan');
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('~ update  orders-b (syncs/orders-b.yaml)\n      ~ schedule.paused: false -> true\n');
    expect(plan.stdout).toMatch(/= unchanged orders-a \(syncs\/orders-a\.yaml\)\n {6}note: paused on the server \("paused by \S+ with dwh-import pause: warehouse maintenance"\); the YAML does not say paused, so apply keeps it paused/);

    expect((await cli('apply')).code).toBe(0);
    expect((await describeSchedule('orders-a'))!.state).toMatchObject({ paused: true, note: expect.stringContaining('warehouse maintenance') });
    expect((await describeSchedule('orders-b'))!.state).toMatchObject({ paused: true, note: 'paused by dwh-import apply: schedule.paused is true in syncs/orders-b.yaml' });

    // The YAML no longer says paused: apply lifts the pause it made, and still keeps the operator's.
    writeSync('orders-b', syncYaml('orders-b', { interval: '30m' }));
    const lift = await cli('apply');
    expect(lift.stdout).toContain('~ update  orders-b (syncs/orders-b.yaml)\n      ~ schedule.paused: true -> false\n');
    expect((await describeSchedule('orders-b'))!.state.paused).toBe(false);
    expect((await describeSchedule('orders-a'))!.state.paused).toBe(true);

    const resume = await runCli(['resume', 'orders-a'], env);
    expect(resume.stdout).toContain('resumed orders-a: scheduled runs start again');
    expect((await describeSchedule('orders-a'))!.state.paused).toBe(false);
    await expectHandMadeUntouched();
  });

  it('shows a schedule edited on the server as drift, and apply restores it', async () => {
    await client.schedule.getHandle('orders-b').update((prev) => ({ ...prev, spec: { intervals: [{ every: '5m' }] } }));
    const plan = await cli('plan');
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('~ update  orders-b (syncs/orders-b.yaml)\n      ~ (schedule spec): edited on the server outside dwh-import; apply restores every 30m\n');
    expect((await cli('apply')).code).toBe(0);
    expect((await describeSchedule('orders-b'))!.spec.intervals).toEqual([expect.objectContaining({ every: 1_800_000 })]);
    expect((await cli('plan')).code).toBe(0);
  });

  it('refuses the whole apply when a sync name is taken by an unmanaged schedule', async () => {
    writeSync('hand', syncYaml(HAND_MADE));
    writeSync('orders-c', syncYaml('orders-c'));
    const plan = await cli('plan');
    expect(plan.code).toBe(1);
    expect(plan.stdout).toContain(`x conflict ${HAND_MADE} (syncs/hand.yaml)\n      a schedule named "${HAND_MADE}" exists but is not managed by dwh-import`);
    expect(plan.stdout).toContain('Error: apply would refuse to change anything: 1 problem(s) above.');
    const apply = await cli('apply');
    expect(apply.code).toBe(1);
    expect(apply.stdout).toContain('Nothing was changed.');
    expect(await describeSchedule('orders-c')).toBeNull();
    await expectHandMadeUntouched();
    rmSync(join(syncsDir, 'hand.yaml'));
    rmSync(join(syncsDir, 'orders-c.yaml'));
  });

  it('an invalid file stops plan and apply with its file:line:column, changing nothing', async () => {
    const good = readFileSync(join(syncsDir, 'orders-a.yaml'), 'utf8');
    writeSync('orders-a', good.replace('  page_size: 500', '  page_size: many'));
    const plan = await cli('plan');
    expect(plan.code).toBe(1);
    expect(plan.stderr).toMatch(/orders-a\.yaml:17:14: options\.page_size must be a whole number; got the text "many"/);
    const apply = await cli('apply', '--prune');
    expect(apply.code).toBe(1);
    expect((await describeSchedule('orders-a'))).not.toBeNull();
    writeSync('orders-a', good);
  });

  it('keeps the schedule of a removed file without --prune, deletes it with --prune', async () => {
    rmSync(join(syncsDir, 'orders-b.yaml'));
    const plan = await cli('plan');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('! orphan  orders-b (was syncs/orders-b.yaml)\n      note: its sync file is gone; the schedule keeps running until you run apply --prune');
    expect(plan.stdout).toContain('1 managed schedule(s) without a sync file are kept; run with --prune to delete them.');

    const prunePlan = await cli('plan', '--prune');
    expect(prunePlan.code).toBe(2);
    expect(prunePlan.stdout).toContain('- delete  orders-b (was syncs/orders-b.yaml)\n      events.orders -> Klaviyo "Placed Order", every 30m');
    expect(prunePlan.stdout).toContain('Plan: 0 to create, 0 to update, 1 to delete, 1 unchanged.');

    const keep = await cli('apply');
    expect(keep.code).toBe(0);
    expect(await describeSchedule('orders-b')).not.toBeNull();

    const prune = await cli('apply', '--prune');
    expect(prune.code).toBe(0);
    expect(prune.stdout).toContain('deleted  orders-b\n\nApply complete: 0 created, 0 updated, 1 deleted.');
    expect(await describeSchedule('orders-b')).toBeNull();

    const after = await cli('plan', '--prune');
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('No changes: the schedules match the sync files (1 unchanged).');

    // An empty syncs folder (a wrong path in CI) does not wipe the deployment unless that is said.
    const empty = join(dir, 'no-syncs-here');
    mkdirSync(empty);
    const wipe = await runCli(['apply', '--prune', '--syncs', empty], env);
    expect(wipe.code).toBe(1);
    expect(wipe.stdout).toContain(`Nothing was changed: ${empty} holds no sync file, so --prune would delete all 1 managed schedule(s). If that is meant, run again with --allow-empty.`);
    expect(await describeSchedule('orders-a')).not.toBeNull();
    await expectHandMadeUntouched();
  });
});

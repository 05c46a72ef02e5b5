/**
 * The `loadPage` activity's commit rules, run in the SDK's activity context against a real DuckDB
 * file, a real SQLite state store and real HTTP servers (the local API, and a tiny server that refuses
 * every request as a misconfigured account would): what the watermark does when a page is all rejects,
 * when a retried attempt finds its own earlier commit, and when another run moved it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSyncActivities } from '../activities/sync.ts';
import { StateStore } from '../activities/state/store.ts';
import type { PageInput, PageResult, PrepareResult } from '../activities/types.ts';
import { startLocalKlaviyo, type LocalKlaviyo } from '../local-api/server.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { basicSyncYaml, syncFromYaml } from './helpers/incremental.ts';
import { TEST_API_KEY } from './helpers/stack.ts';

const dir = tempDir();
const db = join(dir, 'warehouse.duckdb');
let api: LocalKlaviyo;
let refuser: Server;
let refuserUrl: string;
let state: StateStore;

beforeAll(async () => {
  await duckdbExec(
    db,
    `CREATE TABLE orders AS SELECT 'a-' || lpad(CAST(i AS VARCHAR), 3, '0') AS id, CASE WHEN i < 12 THEN 'u' || i || '@shop.test' END AS email,
       TIMESTAMP '2025-01-01 00:00:00' AS placed_at, TIMESTAMP '2025-02-01 00:00:00' + INTERVAL (i) SECOND AS chg
     FROM range(20) r(i)`,
  );
  api = await startLocalKlaviyo({ apiKeys: [TEST_API_KEY], limits: { bulk: null, single: null } });
  refuser = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(400, { 'content-type': 'application/vnd.api+json' });
      res.end(JSON.stringify({ errors: [{ id: 'x', status: 400, code: 'invalid', title: 'Invalid input.', detail: 'revision 2026-07-15 is not enabled for this account', source: { header: 'revision' } }] }));
    });
  });
  await new Promise<void>((r) => refuser.listen(0, '127.0.0.1', r));
  refuserUrl = `http://127.0.0.1:${(refuser.address() as AddressInfo).port}`;
  state = new StateStore(join(dir, 'state.sqlite'));
});

afterAll(async () => {
  state?.close();
  await api?.close();
  await new Promise((r) => refuser?.close(r));
});

function activities(baseUrl: string) {
  return createSyncActivities({ connection: { type: 'duckdb', path: db }, state, klaviyo: { apiKey: TEST_API_KEY, baseUrl }, rateLimits: null });
}

const env = () => new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000, heartbeatTimeoutMs: 30_000 });

function page(name: string, over: Partial<PageInput> = {}): PageInput {
  const sync = syncFromYaml(basicSyncYaml(name, 'orders', { options: { page_size: 12, settle_delay: '1s' } }));
  return { sync, stateKey: name, runId: 'run-A', phase: 'main', after: null, until: '2025-03-01T00:00:00.000000', watermark: null, backfill: false, keyOrder: 'text', ...over };
}

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const e = await p.then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(ApplicationFailure);
  return e as ApplicationFailure;
}

describe('loadPage commit rules', () => {
  it('Klaviyo refusing the request itself (a 400 on the revision header) stops the run: no rejects recorded, watermark unmoved', async () => {
    const f = await failure(env().run(activities(refuserUrl).loadPage, page('refused')));
    expect(f.type).toBe('KlaviyoRequestError');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/refused the bulk request as a whole \(HTTP 400\): revision 2026-07-15 is not enabled for this account \(header revision\)/);
    expect(state.getWatermark('refused')).toBeNull();
    expect(state.listRejects('refused')).toEqual([]);
  });

  it('a page of rows that are all rejected by the mapping is recorded and the watermark moves past it', async () => {
    const after = { ts: '2025-02-01T00:00:11.000000', key: 'a-011' }; // rows 12..19 have no email
    const r: PageResult = await env().run(activities(api.url).loadPage, page('all-rejects', { after, watermark: null }));
    expect(r).toMatchObject({ rowsRead: 8, eventsAccepted: 0, requests: 0, rejected: { missing_identifier: 8 }, done: true });
    expect(r.watermark).toEqual({ ts: '2025-02-01T00:00:19.000000', key: 'a-019' });
    expect(state.listRejects('all-rejects')).toHaveLength(8);
  });

  it('a retried attempt recognises its own earlier commit, also when the page changed meanwhile; another run cannot commit', async () => {
    const acts = activities(api.url);
    const first: PageResult = await env().run(acts.loadPage, page('retry'));
    const w1 = { ts: '2025-02-01T00:00:11.000000', key: 'a-011' };
    expect(first.watermark).toEqual(w1);

    // The same attempt again (the worker died after the commit, before reporting): no conflict.
    const again = await env().run(acts.loadPage, page('retry'));
    expect(again).toMatchObject({ watermark: w1, last: w1 });

    // Late rows appear inside the page: the retried page now ends earlier, yet the run resumes after
    // what its earlier attempt committed, and the watermark does not move back.
    await duckdbExec(db, `INSERT INTO orders SELECT 'a-00' || i || 'x', 'late' || i || '@shop.test', TIMESTAMP '2025-01-01 00:00:00', TIMESTAMP '2025-02-01 00:00:00.5' FROM range(3) r(i)`);
    const changed = await env().run(acts.loadPage, page('retry'));
    expect(changed).toMatchObject({ watermark: w1, last: w1 });
    expect(state.getWatermark('retry')?.cursor).toEqual(w1);

    // Another run with the same stale expectation: a conflict that names it, nothing written.
    const f = await failure(env().run(acts.loadPage, page('retry', { runId: 'run-B' })));
    expect(f.type).toBe('WatermarkConflict');
    expect(f.message).toMatch(/moved by another run \(run-A\)/);
    expect(state.watermarkLog('retry')).toHaveLength(1);
  });

  it('a run refuses a watermark recorded for another table, change column or key, until a reset says where to start', async () => {
    const acts = activities(api.url);
    await env().run(acts.loadPage, page('moved')); // 12 rows (3 of them added by the test before) up to a-008
    const keyed = 'orders: change chg TIMESTAMP, key id VARCHAR';
    expect(state.getWatermark('moved')?.source).toBe(keyed);

    // The sync now maps no unique_id: its pages are ordered by chg alone.
    const unkeyed = syncFromYaml(basicSyncYaml('moved', 'orders', { uniqueId: false, options: { page_size: 12, settle_delay: '1s' } }));
    const f = await failure(env().run(acts.prepareRun, { sync: unkeyed, stateKey: 'moved', runId: 'run-C', mode: 'incremental' as const }));
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toBe(
      'moved: the watermark (2025-02-01T00:00:08.000000 / key a-008) is a position in orders: change chg TIMESTAMP, key id VARCHAR, ' +
        'but the sync now reads orders: change chg TIMESTAMP, key none. A position in one order means nothing in another: this run would skip or ' +
        're-send rows, so it stops without reading. Choose where the sync starts: `dwh-import reset moved --to <time>` (from that change timestamp, ' +
        'inclusive; --to 2025-02-01T00:00:08.000000 keeps its place) or `dwh-import reset moved --clear` (the whole table again; events whose ' +
        'unique_id did not change are deduplicated by Klaviyo).',
    );
    expect(state.getWatermark('moved')?.source).toBe(keyed);

    // A reset records the new source; the run then goes ahead from the reset cursor.
    state.resetWatermark('moved', { ts: '2025-02-01T00:00:11.000000', key: null, inclusive: true }, 'test', 'orders: change chg TIMESTAMP, key none');
    const prepared: PrepareResult = await env().run(acts.prepareRun, { sync: unkeyed, stateKey: 'moved', runId: 'run-C', mode: 'incremental' as const });
    expect(prepared.watermark).toEqual({ ts: '2025-02-01T00:00:11.000000', key: null, inclusive: true });
  });
});

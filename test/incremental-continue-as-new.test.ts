/**
 * Long runs continue-as-new (issue 6) on a dedicated dev server whose
 * `limit.historyCount.suggestContinueAsNew` is lowered to 30 events: the run continues as new many
 * times, keeps its counters and its watermark chain, and after a worker killed mid-run resumes from
 * the last committed page.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateStore } from '../activities/state/store.ts';
import { compareCursor } from '../incremental/cursor.ts';
import { ensureTemporalCli } from '../devenv/temporal-cli.ts';
import { freePort, startDevServer, type DevServer } from '../devenv/dev-server.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { basicSyncYaml, bundleFile, chainRunIds, historySize, spawnWorker, startRun, storedIds, syncFromYaml } from './helpers/incremental.ts';
import { startStack, type Stack } from './helpers/stack.ts';

const ROWS = 2000;
const PAGE = 50;
const dir = tempDir();
const db = join(dir, 'warehouse.duckdb');
const statePath = join(dir, 'worker-state.sqlite');
let server: DevServer;
let stack: Stack;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  await duckdbExec(
    db,
    `CREATE TABLE orders AS SELECT 'k-' || lpad(CAST(i AS VARCHAR), 5, '0') AS id, 'u' || (i % 89) || '@shop.test' AS email,
       TIMESTAMP '2025-01-01 00:00:00' + INTERVAL (i) SECOND AS placed_at, TIMESTAMP '2025-02-01 00:00:00' + INTERVAL (i // 3) SECOND AS chg
     FROM range(${ROWS}) r(i)`,
  );
  const cli = await ensureTemporalCli(() => undefined);
  server = await startDevServer({ cli, port: await freePort(), headless: true, dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 30 } });
  stack = await startStack({
    connection: { type: 'duckdb', path: db },
    api: { limits: { bulk: null, single: null }, faults: { slowMs: 100 } },
    rateLimits: null,
    dir,
    temporalAddress: server.address,
  });
});

afterAll(async () => {
  await stack?.stop();
  await server?.stop();
});

describe('continue-as-new', () => {
  it('continues as new when the server suggests it, keeping counters and the watermark chain, and resumes after a worker crash', async () => {
    const taskQueue = `can-${Math.random().toString(36).slice(2, 8)}`;
    const sync = syncFromYaml(basicSyncYaml('can', 'orders', { options: { page_size: PAGE, settle_delay: '1s' } }));
    const bundlePath = await bundleFile(dir);
    const spawnOne = () => spawnWorker({ address: server.address, taskQueue, duckdbPath: db, statePath, apiUrl: stack.api.url, bundlePath });
    const handle = await startRun(stack.client, taskQueue, { sync, pageHeartbeatTimeout: '3s' }, { workflowTaskTimeout: '2s' });
    const firstRunId = handle.firstExecutionRunId;

    // First worker: run until the chain has continued as new at least twice, then kill it mid-page.
    let w = spawnOne();
    await w.ready;
    for (let i = 0; i < 600; i++) {
      if ((await chainRunIds(stack.client, handle.workflowId, firstRunId)).length >= 3) break;
      await sleep(200);
    }
    const requests = stack.api.store.counters.requests;
    while (stack.api.store.counters.requests === requests) await sleep(10);
    await sleep(50); // inside the 100 ms the API takes to answer: the page is in flight
    w.child.kill('SIGKILL');
    await w.exited;
    const s = new StateStore(statePath);
    const atCrash = s.getWatermark('can')!.cursor;
    s.close();

    w = spawnOne();
    await w.ready;
    try {
      const result = await handle.result();
      const chain = await chainRunIds(stack.client, handle.workflowId, firstRunId);
      expect(result.continuedAsNew).toBeGreaterThanOrEqual(5);
      expect(chain.length).toBe(result.continuedAsNew + 1);

      // Counters kept across the chain: every row counted once, every page once (40 full pages + the empty last one).
      expect(result.rowsRead).toBe(ROWS);
      expect(result.eventsAccepted).toBe(ROWS);
      expect(result.pages).toBe(ROWS / PAGE + 1);
      expect(result.runId).toBe(firstRunId);
      expect(result.watermarkBefore).toBeNull();
      expect(result.watermarkAfter).toEqual({ ts: `2025-02-01T00:11:06.000000`, key: 'k-01999' });

      // The watermark chain: one commit per page, each from the previous one, strictly forward,
      // the run resumed from the last committed page (the one at the crash) and never went back.
      const st = new StateStore(statePath);
      const log = st.watermarkLog('can');
      st.close();
      expect(log).toHaveLength(ROWS / PAGE);
      expect(log.every((m) => m.runId === firstRunId)).toBe(true);
      for (let i = 1; i < log.length; i++) {
        expect(log[i].from).toEqual(log[i - 1].to);
        expect(compareCursor(log[i - 1].to!, log[i].to!, 'text')).toBe(-1);
      }
      expect(log.some((m) => m.to && compareCursor(m.to, atCrash, 'text') === 0)).toBe(true);

      // Exactly once at the destination; at most the page in flight at the crash was re-sent.
      const ids = storedIds(stack.api);
      expect(ids.size).toBe(ROWS);
      expect([...ids.values()].every((n) => n === 1)).toBe(true);
      expect(stack.api.store.counters.duplicate_events).toBeLessThanOrEqual(PAGE);

      // Every run of the chain keeps a short history; the search attribute survives continue-as-new.
      for (const runId of chain) {
        const h = await historySize(stack.client, handle.workflowId, runId);
        expect(h.events).toBeLessThan(80);
      }
      const last = await stack.client.workflow.getHandle(handle.workflowId, chain[chain.length - 1]).describe();
      expect(last.typedSearchAttributes.getAll().find((p) => p.key.name === 'EventSyncName')?.value).toBe('can');
      console.log(`[continue-as-new] ${chain.length} runs in the chain, ${result.pages} pages, re-sent after the crash: ${stack.api.store.counters.duplicate_events}`);
    } finally {
      w.child.kill('SIGTERM');
      await Promise.race([w.exited, sleep(10_000)]);
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
  }, 600_000);
});

/**
 * Crash safety: a worker in its own process is killed with SIGKILL at random points of an import
 * (reading, loading, between the load and the commit, after the commit) again and again; at the end
 * the local API holds each row's event exactly once and the watermark equals the last row's cursor.
 *
 * Default: 10,000 rows, 4 kills. `DWH_IMPORT_HEAVY=1`: 50,000 rows, 10 kills (the figures).
 * The test prints the figures (time, re-sent events the API deduplicated, history length).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateStore } from '../activities/state/store.ts';
import { compareCursor } from '../incremental/cursor.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { basicSyncYaml, bundleFile, historySize, spawnWorker, startRun, storedIds, syncFromYaml, type WorkerProcess } from './helpers/incremental.ts';
import { startStack, type Stack } from './helpers/stack.ts';

const HEAVY = process.env.DWH_IMPORT_HEAVY === '1';
const ROWS = HEAVY ? 50_000 : 10_000;
const KILLS = HEAVY ? 10 : 4;
const PAGE = 500;

const dir = tempDir();
const db = join(dir, 'warehouse.duckdb');
const statePath = join(dir, 'worker-state.sqlite');
let stack: Stack;
let bundlePath: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  // Groups of up to 4 rows share a change timestamp (keyed by id), ids not in insert order.
  await duckdbExec(
    db,
    `CREATE TABLE orders AS SELECT 'c-' || lpad(CAST(i AS VARCHAR), 6, '0') AS id, 'u' || (i % 1013) || '@shop.test' AS email,
       TIMESTAMP '2025-01-01 00:00:00' + INTERVAL (i) SECOND AS placed_at,
       TIMESTAMP '2025-02-01 00:00:00' + INTERVAL (i // 4) SECOND AS chg, i % 50 AS qty
     FROM range(${ROWS}) r(i) ORDER BY hash(i)`,
  );
  // The test process keeps the API and Temporal; its in-process worker polls another task queue.
  stack = await startStack({ connection: { type: 'duckdb', path: db }, api: { limits: { bulk: null, single: null }, faults: { slowMs: 300 } }, rateLimits: null, dir });
  bundlePath = await bundleFile(dir);
});

afterAll(async () => {
  await stack?.stop();
});

describe('a worker killed with SIGKILL during an import', () => {
  it(`loses nothing and doubles nothing: ${ROWS} rows, ${KILLS} kills`, async () => {
    const taskQueue = `crash-${Math.random().toString(36).slice(2, 8)}`;
    const sync = syncFromYaml(basicSyncYaml('crash', 'orders', { options: { page_size: PAGE, settle_delay: '1s' } }));
    const spawnOne = () =>
      spawnWorker({ address: stack.temporal.address, taskQueue, duckdbPath: db, statePath, apiUrl: stack.api.url, bundlePath });

    const t0 = Date.now();
    const handle = await startRun(stack.client, taskQueue, { sync, pageHeartbeatTimeout: '3s' }, { workflowTaskTimeout: '2s' });
    const kills: string[] = [];
    let w: WorkerProcess | undefined;
    try {
      // Spread the kills over the whole import: each worker loads a random number of pages first.
      const pages = Math.ceil(ROWS / PAGE);
      const spread = Math.max(1, Math.floor(pages / KILLS)); // on average about half the import is done by the last kill
      for (let k = 0; k < KILLS; k++) {
        const t1 = Date.now();
        w = spawnOne();
        await w.ready;
        const t2 = Date.now();
        // Wait for this worker to make progress (1 + random bulk requests reached the API), then kill it
        // after a random delay: the API answers each request after 300 ms, so the kill lands while a
        // request is in flight (the API stores its events, the worker never hears the 202), between the
        // load and the commit, while reading the next page, or between pages.
        const want = stack.api.store.counters.requests + 1 + Math.floor(Math.random() * spread);
        const deadline = Date.now() + 120_000;
        while (stack.api.store.counters.requests < want && Date.now() < deadline) await sleep(10);
        const t3 = Date.now();
        const delay = Math.floor(Math.random() * 1200);
        await sleep(delay);
        w.child.kill('SIGKILL');
        await w.exited;
        const s = new StateStore(statePath);
        const at = s.getWatermark('crash')?.cursor.key ?? 'none';
        s.close();
        kills.push(`#${k + 1}: ready in ${t2 - t1} ms, killed ${t3 - t2 + delay} ms later (${delay} ms after API request ${want}), watermark at ${at}`);
      }
      const tf = Date.now();
      w = spawnOne();
      await w.ready;
      const result = await handle.result();
      kills.push(`the last worker finished the import in ${Date.now() - tf} ms`);
      const seconds = (Date.now() - t0) / 1000;

      // The run's own counts: each page counted once, whatever was retried.
      expect(result.rowsRead).toBe(ROWS);
      expect(result.eventsAccepted).toBe(ROWS);
      expect(result.rejectedTotal).toBe(0);

      // Exactly once at the destination.
      const ids = storedIds(stack.api);
      expect(ids.size).toBe(ROWS);
      expect([...ids.values()].every((n) => n === 1)).toBe(true);
      expect(stack.api.store.events.length).toBe(ROWS);
      const resent = stack.api.store.counters.duplicate_events;
      expect(stack.api.store.counters.accepted_events).toBe(ROWS);

      // The watermark is the last row's cursor and only ever moved forward.
      const lastChg = `2025-02-01T${new Date(Math.floor((ROWS - 1) / 4) * 1000).toISOString().slice(11, 19)}.000000`;
      const lastKey = `c-${String(ROWS - 1).padStart(6, '0')}`; // the largest id of the last group
      const s = new StateStore(statePath);
      const wm = s.getWatermark('crash');
      const log = s.watermarkLog('crash');
      s.close();
      expect(wm?.cursor).toEqual({ ts: lastChg, key: lastKey });
      expect(result.watermarkAfter).toEqual({ ts: lastChg, key: lastKey });
      for (let i = 1; i < log.length; i++) {
        expect(log[i].from).toEqual(log[i - 1].to);
        expect(compareCursor(log[i - 1].to!, log[i].to!, 'text')).toBe(-1);
      }

      const h = await historySize(stack.client, handle.workflowId);
      console.log(
        `[crash] ${ROWS} rows, ${KILLS} SIGKILLs, ${result.pages} pages of ${PAGE}: ${seconds.toFixed(1)} s; ` +
          `re-sent events deduplicated by the API: ${resent}; requests: ${stack.api.store.counters.requests}; ` +
          `history: ${h.events} events, ${h.payloadBytes} payload bytes (largest ${h.largestPayload}); continued-as-new ${result.continuedAsNew} times\n  ${kills.join('\n  ')}`,
      );
      expect(h.largestPayload).toBeLessThan(16 * 1024);
    } finally {
      if (w && w.child.exitCode === null && w.child.signalCode === null) {
        w.child.kill('SIGTERM');
        await Promise.race([w.exited, sleep(10_000)]);
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      }
    }
  }, 1_200_000);
});

/**
 * `npm run bench`: the Online Retail data set through the whole product, measured.
 *
 * Prints, on this machine:
 *  1. the ceiling: rows/s reading the table page by page, mapping the rows and serialising the bulk
 *     request bodies, without sending them (one process, no Temporal);
 *  2. the pipeline: rows/s end to end through Temporal (dev server), a worker process, DuckDB and the
 *     local Klaviyo-compatible API with its rate limits off;
 *  3. the worker's peak RSS (VmHWM) and the run's Temporal history length;
 *  4. the same on a table 10 times larger (shifted keys and times), to show how time and memory grow.
 *
 * Options (env): BENCH_COPIES (default 10; 0 or 1 skips the large run), TEMPORAL_ADDRESS (use a running
 * server instead of starting a dev server), BENCH_SYNC (retail-ordered-product | retail-orders),
 * BENCH_PAGE_SIZE (overrides the sync's page_size), BENCH_RSS_TRACE=1 (prints the worker's RSS, heap
 * total and heap used every 500 ms), BENCH_WORKER_NODE_ARGS (Node options for the worker, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { openDuckDBReader } from '../activities/warehouse/duckdb.ts';
import { loadSyncFile } from '../config/load.ts';
import { tieBreakerName, type SyncConfig } from '../config/types.ts';
import { freePort, startDevServer, type DevServer } from '../devenv/dev-server.ts';
import { loadRetail, RETAIL_EXAMPLES } from '../devenv/retail-data.ts';
import { ensureTemporalCli } from '../devenv/temporal-cli.ts';
import { cursorOf } from '../incremental/sql.ts';
import type { Cursor } from '../incremental/cursor.ts';
import { buildBatches } from '../loading/bulk.ts';
import { startLocalKlaviyo } from '../local-api/server.ts';
import { compileMapper } from '../mapping/map-row.ts';
import type { KlaviyoEvent } from '../mapping/types.ts';
import type { SyncRunResult } from '../workflows/index.ts';
import { tempDir } from '../test/helpers/duckdb.ts';

const repo = resolve(import.meta.dirname, '..');
const copies = Number(process.env.BENCH_COPIES ?? 10);
const syncName = process.env.BENCH_SYNC ?? 'retail-ordered-product';
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function syncFor(schema: string): SyncConfig {
  const file = syncName === 'retail-orders' ? 'orders.yaml' : 'ordered-product.yaml';
  const sync = loadSyncFile(join(RETAIL_EXAMPLES, file));
  sync.source.table = sync.source.table.replace(/^retail\./, `${schema}.`);
  sync.name = `${sync.name}-${schema}`;
  if (process.env.BENCH_PAGE_SIZE) sync.options.page_size = Number(process.env.BENCH_PAGE_SIZE);
  return sync;
}

/** Reads every page, maps and serialises request bodies: what the pipeline does minus HTTP and Temporal. */
async function ceiling(dbPath: string, sync: SyncConfig): Promise<{ rows: number; ms: number; bytes: number }> {
  const started = Date.now();
  const reader = await openDuckDBReader(dbPath);
  const columns = await reader.describe(sync.source.table);
  const mapper = compileMapper(sync, columns);
  const change = columns.find((c) => c.name === sync.mapping.change_timestamp)!;
  const tb = columns.find((c) => c.name === tieBreakerName(sync));
  let after: Cursor | null = null;
  let rows = 0;
  let bytes = 0;
  for (;;) {
    const page = await reader.readPage({
      table: sync.source.table,
      columns,
      change,
      tieBreaker: tb,
      after,
      until: '9999-12-31T00:00:00.000000',
      limit: sync.options.page_size,
    });
    rows += page.rows.length;
    const events: KlaviyoEvent[] = [];
    for (const row of page.rows) {
      const r = mapper.map(row);
      if (r.ok) events.push(r.event);
    }
    for (const b of buildBatches(events, { backfill: false }).batches) bytes += Buffer.byteLength(b.body());
    if (page.more === false) break;
    after = cursorOf(page.rows[page.rows.length - 1], columns.indexOf(change), tb ? columns.indexOf(tb) : undefined);
  }
  await reader.close();
  return { rows, ms: Date.now() - started, bytes };
}

/** User + system CPU seconds a process used so far (/proc/<pid>/stat, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function peakRssKb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function pipeline(address: string, dir: string, dbPath: string, sync: SyncConfig) {
  const api = await startLocalKlaviyo({ apiKeys: ['pk_bench'], limits: { bulk: null, single: null } });
  const connFile = join(dir, `connection-${sync.name}.yaml`);
  writeFileSync(connFile, `type: duckdb\npath: ${dbPath}\n`);
  const taskQueue = `bench-${sync.name}-${Date.now()}`;
  // Started as a user starts it (`dwh-import worker`): with the environment and Node options of the bin
  // file's `#!/usr/bin/env -S ...` line (the worker's memory tuning), plus BENCH_WORKER_NODE_ARGS
  // (e.g. --cpu-prof, which NODE_OPTIONS does not allow).
  const bin = join(repo, 'bin', 'dwh-import.js');
  const shebang = readFileSync(bin, 'utf8').split('\n')[0].replace(/^#!\/usr\/bin\/env -S\s+/, '').split(/\s+/);
  const shebangEnv = Object.fromEntries(shebang.filter((w) => /^[A-Z_]+=/.test(w)).map((w) => w.split('=', 2)));
  const shebangArgs = shebang.slice(shebang.indexOf('node') + 1);
  const nodeArgs = [...shebangArgs, ...(process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const metricsPort = await freePort();
  const worker = spawn(process.execPath, [...nodeArgs, bin, 'worker', '--no-rate-limit', '--metrics-port', String(metricsPort), '--metrics-host', '127.0.0.1'], {
    env: {
      ...process.env,
      ...shebangEnv,
      TEMPORAL_ADDRESS: address,
      DWH_IMPORT_TASK_QUEUE: taskQueue,
      DWH_IMPORT_CONNECTION: connFile,
      DWH_IMPORT_STATE: join(dir, `state-${sync.name}.sqlite`),
      KLAVIYO_API_KEY: 'pk_bench',
      KLAVIYO_BASE_URL: api.url,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  try {
    const rssSamples: number[] = [];
    const heapSamples: string[] = [];
    const sampler = setInterval(() => {
      let status = '';
      try {
        status = readFileSync(`/proc/${worker.pid}/status`, 'utf8');
      } catch {
        return; // the worker has exited (its exit is reported below)
      }
      const m = /VmRSS:\s+(\d+) kB/.exec(status);
      if (m) rssSamples.push(Number(m[1]));
      if (process.env.BENCH_RSS_TRACE) {
        fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()).then((t) => {
          const v = (name: string) => Math.round(Number(new RegExp(`^${name} (\\S+)`, 'm').exec(t)?.[1] ?? NaN) / 1e6);
          heapSamples.push(`${m ? Math.round(Number(m[1]) / 1024) : '?'}/${v('nodejs_heap_size_total_bytes')}/${v('nodejs_heap_size_used_bytes')}`);
        }, () => undefined);
      }
    }, 500);
    const cpuBefore = cpuSeconds(worker.pid!);
    const started = Date.now();
    const handle = await client.workflow.start('syncWorkflow', { taskQueue, workflowId: `${sync.name}-${started}`, args: [{ sync }] });
    const result = (await handle.result()) as SyncRunResult;
    const ms = Date.now() - started;
    clearInterval(sampler);
    const rss = peakRssKb(worker.pid!);
    const cpu = cpuSeconds(worker.pid!) - cpuBefore;
    if (process.env.BENCH_RSS_TRACE) console.log(`rss/heap total/heap used trace (MB, every 500 ms): ${heapSamples.join(' ')}`);
    let historyEvents = 0;
    let runs = 0;
    // Walk the continue-as-new chain back from the last run.
    for (let runId: string | undefined = undefined; ; ) {
      const hist = await client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
      historyEvents += hist.events?.length ?? 0;
      runs++;
      runId = hist.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
      if (!runId) break;
    }
    return { result, ms, rss, cpu, historyEvents, runs, stored: api.store.counters.accepted_events, requests: api.store.counters.accepted_requests };
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => worker.once('exit', r));
    await connection.close();
    await api.close();
  }
}

async function main() {
  const dir = tempDir('dwh-import-bench-');
  let server: DevServer | undefined;
  let address = process.env.TEMPORAL_ADDRESS;
  if (!address) {
    server = await startDevServer({ cli: await ensureTemporalCli(console.log), port: await freePort(), headless: true });
    address = server.address;
  }
  console.log(`dwh-import bench (${syncName}); node ${process.version}; ${new Date().toISOString()}`);
  try {
    const runs: [string, number][] = [['retail', 1]];
    if (copies > 1) runs.push([`retail${copies}`, copies]);
    for (const [schema, n] of runs) {
      const dbPath = join(dir, `warehouse-${schema}.duckdb`);
      const t = Date.now();
      const total = await loadRetail(dbPath, { schema, copies: n, loadedAtMs: Date.now() - 3600_000 });
      console.log(`\n== ${schema}: ${fmt(total)} line items (${n}x), loaded into DuckDB in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      const sync = syncFor(schema);
      const c = await ceiling(dbPath, sync);
      const ceilingRate = (c.rows / c.ms) * 1000;
      console.log(`ceiling   ${fmt(c.rows)} rows read+mapped+serialised in ${(c.ms / 1000).toFixed(1)} s = ${fmt(ceilingRate)} rows/s (${fmt(c.bytes / 1e6)} MB of request bodies)`);
      const p = await pipeline(address, dir, dbPath, sync);
      const rate = (p.result.rowsRead / p.ms) * 1000;
      console.log(
        `pipeline  ${fmt(p.result.rowsRead)} rows in ${(p.ms / 1000).toFixed(1)} s = ${fmt(rate)} rows/s (${((rate / ceilingRate) * 100).toFixed(0)}% of the ceiling); ` +
          `${fmt(p.result.eventsAccepted)} events accepted, ${fmt(p.stored)} stored by the API in ${fmt(p.requests)} requests, ${fmt(p.result.rejectedTotal)} rejected`,
      );
      console.log(`worker    peak RSS ${fmt(p.rss / 1024)} MB; CPU ${p.cpu.toFixed(1)} s (${((p.cpu / p.result.rowsRead) * 1e6).toFixed(0)} µs/row); history ${fmt(p.historyEvents)} events in ${p.runs} run(s) (${p.result.pages} pages)`);
    }
  } finally {
    await server?.stop();
  }
}

await main();

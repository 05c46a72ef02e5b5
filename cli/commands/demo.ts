/**
 * `dwh-import demo`: the main job end to end on the embedded defaults. It makes sure a Temporal CLI
 * exists (building it once if needed), starts (or reuses) a background Temporal dev server with its
 * Web UI, creates the DuckDB demo warehouse, starts the local Klaviyo-compatible API and a worker,
 * applies every sync in syncs/ as a Schedule, triggers one run of each, waits and prints what happened.
 *
 * With `--data <csv>` it runs on real data instead: the Online Retail export (or any CSV with its
 * columns) is loaded into the demo warehouse as `retail.lines` with the views of
 * examples/online-retail/views.sql, and the example syncs of examples/online-retail run.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadSyncs } from '../../config/discover.ts';
import { loadConnectionFile } from '../../config/load.ts';
import { ensureTemporalCli } from '../../devenv/temporal-cli.ts';
import { ensureBackgroundDevServer, stopBackgroundDevServer } from '../../devenv/dev-server.ts';
import { seedDemoWarehouse } from '../../devenv/demo-data.ts';
import { loadRetail, RETAIL_EXAMPLES } from '../../devenv/retail-data.ts';
import { duckdbTableExists } from '../../devenv/load-csv.ts';
import { startLocalKlaviyo } from '../../local-api/server.ts';
import { memoPath } from '../../ops/plan.ts';
import { triggerOrFollow, upsertSchedule } from '../../ops/schedules.ts';
import { failureText } from '../../ops/failure.ts';
import { followRun } from '../follow.ts';
import { createWorker } from '../../worker.ts';
import { connectTemporal, temporalSettings } from '../../config/env.ts';
import { formatRun, num, runUrl } from '../format.ts';

const DEMO_KEY = 'pk_local_dev';

export function register(program: Command): void {
  program
    .command('demo')
    .description('run every sync in syncs/ once on the embedded defaults (Temporal dev server, DuckDB, local Klaviyo API) and show what happened')
    .option('--data-dir <dir>', 'where the demo keeps its files', '.data')
    .option('--data <csv>', 'run on real data: load this Online Retail CSV (.csv or .csv.gz) into the demo warehouse and run the syncs of examples/online-retail')
    .option('--no-rate-limit', "switch Klaviyo's rate limits off in the local API and the loader (faster on large data)")
    .option('--stop', 'stop the background Temporal dev server the demo started, and exit')
    .action(async (opts) => {
      const dataDir = resolve(opts.dataDir);
      if (opts.stop) {
        console.log(stopBackgroundDevServer(dataDir) ? 'stopped the Temporal dev server' : 'no demo Temporal dev server was running');
        return;
      }
      const t0 = Date.now();
      Runtime.install({ logger: new DefaultLogger('WARN') });
      const say = (k: string, v: string) => console.log(`  ${k.padEnd(10)} ${v}`);
      console.log('dwh-import demo');
      const cli = await ensureTemporalCli((l) => console.log(`  ${l}`));
      const temporal = await ensureBackgroundDevServer(cli, dataDir);
      say('Temporal', `${temporal.address} (${temporal.reused ? 'dev server already running' : 'dev server started'}; Web UI ${temporal.uiUrl})`);

      const connectionFile = resolve('connection.yaml');
      const conn = loadConnectionFile(connectionFile);
      if (conn.type !== 'duckdb') throw new Error(`the demo reads the embedded DuckDB warehouse; ${connectionFile} names a ${conn.type} connection`);
      let syncsDir = resolve('syncs');
      if (opts.data) {
        const csv = resolve(opts.data);
        if (!existsSync(csv)) throw new Error(`--data: no such file ${csv}`);
        syncsDir = RETAIL_EXAMPLES;
        if (await duckdbTableExists(conn.path, 'retail.lines')) say('warehouse', `${conn.path} (retail.lines exists; no rows added)`);
        else {
          const started = Date.now();
          const rows = await loadRetail(conn.path, { csv });
          say('warehouse', `${conn.path} (loaded ${num(rows)} rows of ${opts.data} into retail.lines in ${((Date.now() - started) / 1000).toFixed(1)} s, views from examples/online-retail/views.sql)`);
        }
      } else {
        const seeded = await seedDemoWarehouse(conn.path);
        say('warehouse', `${conn.path} (${seeded.length ? `created ${seeded.map((t) => `${t.table} with ${num(t.rows)} rows`).join(', ')}` : 'all demo tables exist; no rows added'})`);
      }

      const limited = opts.rateLimit !== false;
      const apiOpts = { apiKeys: [DEMO_KEY], ...(limited ? {} : { limits: { bulk: null, single: null } }) };
      const api = await startLocalKlaviyo({ ...apiOpts, port: 8765 }).catch(() => startLocalKlaviyo({ ...apiOpts, port: 0 }));
      say('Klaviyo', `local compatible API at ${api.url} (${limited ? "Klaviyo's real limits: 10/s, 150/min" : 'rate limits off'})`);

      // The default task queue (DWH_IMPORT_TASK_QUEUE or dwh-import): the schedules the demo leaves behind are
      // then served by `dwh-import worker` and match what `plan`/`apply` would register.
      const t = temporalSettings({ address: temporal.address, namespace: 'default' });
      const statePath = resolve(dataDir, 'state.sqlite');
      const worker = await createWorker({
        temporal: t,
        connection: conn,
        statePath,
        klaviyo: { apiKey: DEMO_KEY, baseUrl: api.url },
        rateLimits: limited ? undefined : null,
      });
      const running = worker.worker.run();
      const connection = await connectTemporal(t);
      try {
        const client = new Client({ connection, namespace: t.namespace });
        const syncs = loadSyncs([syncsDir]);
        for (const { sync, file } of syncs) {
          const what = await upsertSchedule(client, sync, t.taskQueue, memoPath(syncsDir, file));
          say('schedule', `${sync.name} ${what} (${sync.schedule.cron ? `cron "${sync.schedule.cron}"` : `every ${sync.schedule.interval}`} ${sync.schedule.timezone})`);
        }
        console.log('');
        const before = { ...api.store.counters };
        for (const { sync } of syncs) {
          const { handle, runId } = await triggerOrFollow(client, sync.name);
          const url = runUrl(temporal.uiUrl, t.namespace, handle.workflowId, runId);
          const end = await followRun(handle, { prefix: `${sync.name}: `, waitingText: 'waiting for the worker ...' });
          const metric = sync.metric.name ? `"${sync.metric.name}"` : `metric from column ${sync.metric.column}`;
          console.log(`${sync.name}: ${metric} from ${sync.source.table}`);
          if (end.ok) console.log(formatRun(end.r, { url }));
          else {
            console.log(`  run failed: ${failureText(end.e)}\n  ${url}`);
            process.exitCode = 1;
          }
          console.log('');
        }
        // One total, not per sync: a schedule that fires meanwhile runs on the same worker and API.
        const c = api.store.counters;
        console.log(
          `local API: ${num(c.accepted_events - before.accepted_events)} event(s) stored, ` +
            `${num(c.duplicate_events - before.duplicate_events)} dropped as repeats of a stored unique_id, ` +
            `${num(c.rejected_requests - before.rejected_requests)} request(s) answered 4xx, ${num(c.throttled - before.throttled)} answered 429`,
        );
      } finally {
        await connection.close();
        worker.worker.shutdown();
        await running;
        await worker.close();
        await api.close();
      }
      console.log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s. Open the Temporal Web UI at ${temporal.uiUrl} (the dev server keeps running; stop it with: npm run demo -- --stop)`);
      console.log(
        `The schedules stay registered on task queue ${t.taskQueue}; their next runs wait for a worker. To serve them: ` +
          `npx dwh-import local-api & KLAVIYO_BASE_URL=http://127.0.0.1:8765 KLAVIYO_API_KEY=${DEMO_KEY} npx dwh-import worker`,
      );
    });
}

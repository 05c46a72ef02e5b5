/**
 * `dwh-import demo`: the main job end to end on the embedded defaults. It makes sure a Temporal CLI
 * exists (building it once if needed), starts (or reuses) a background Temporal dev server with its
 * Web UI, creates the DuckDB demo warehouse, starts the local Klaviyo-compatible API and a worker,
 * applies every sync in syncs/ as a Schedule, triggers one run of each, waits and prints what happened.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadSyncs } from '../../config/discover.ts';
import { loadConnectionFile } from '../../config/load.ts';
import { ensureTemporalCli } from '../../devenv/temporal-cli.ts';
import { ensureBackgroundDevServer, freePort, stopBackgroundDevServer } from '../../devenv/dev-server.ts';
import { seedDemoWarehouse } from '../../devenv/demo-data.ts';
import { startLocalKlaviyo } from '../../local-api/server.ts';
import { memoPath } from '../../ops/plan.ts';
import { triggerRun, upsertSchedule } from '../../ops/schedules.ts';
import { createWorker } from '../../worker.ts';
import { connectTemporal, temporalSettings } from '../../config/env.ts';
import { formatRun, num, runUrl } from '../format.ts';

const DEMO_KEY = 'pk_local_dev';

export function register(program: Command): void {
  program
    .command('demo')
    .description('run every sync in syncs/ once on the embedded defaults (Temporal dev server, DuckDB, local Klaviyo API) and show what happened')
    .option('--data-dir <dir>', 'where the demo keeps its files', '.data')
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
      const seeded = await seedDemoWarehouse(conn.path);
      say('warehouse', `${conn.path} (${seeded.length ? `created ${seeded.map((t) => `${t.table} with ${num(t.rows)} rows`).join(', ')}` : 'all demo tables exist; no rows added'})`);

      const api = await startLocalKlaviyo({ port: await freePort().then(() => 8765).catch(() => 0), apiKeys: [DEMO_KEY] }).catch(() =>
        startLocalKlaviyo({ port: 0, apiKeys: [DEMO_KEY] }),
      );
      say('Klaviyo', `local compatible API at ${api.url} (Klaviyo's real limits: 10/s, 150/min)`);

      const t = temporalSettings({ address: temporal.address, namespace: 'default', taskQueue: 'dwh-import-demo' });
      const statePath = resolve(dataDir, 'state.sqlite');
      const worker = await createWorker({
        temporal: t,
        connection: conn,
        statePath,
        klaviyo: { apiKey: DEMO_KEY, baseUrl: api.url },
      });
      const running = worker.worker.run();
      const connection = await connectTemporal(t);
      try {
        const client = new Client({ connection, namespace: t.namespace });
        const syncs = loadSyncs([resolve('syncs')]);
        for (const { sync, file } of syncs) {
          const what = await upsertSchedule(client, sync, t.taskQueue, memoPath(resolve('syncs'), file));
          say('schedule', `${sync.name} ${what} (${sync.schedule.cron ? `cron "${sync.schedule.cron}"` : `every ${sync.schedule.interval}`} ${sync.schedule.timezone})`);
        }
        console.log('');
        for (const { sync } of syncs) {
          const before = api.store.counters.accepted_events;
          const handle = await triggerRun(client, sync.name);
          const result = await handle.result();
          const desc = await handle.describe();
          const stored = api.store.counters.accepted_events - before;
          const metric = sync.metric.name ? `"${sync.metric.name}"` : `metric from ${sync.metric.column}`;
          console.log(`${sync.name}: ${metric} from ${sync.source.table}`);
          console.log(formatRun(result, { url: runUrl(temporal.uiUrl, t.namespace, desc.workflowId, desc.runId), storedByApi: stored }));
          console.log('');
        }
      } finally {
        await connection.close();
        worker.worker.shutdown();
        await running;
        await worker.close();
        await api.close();
      }
      console.log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s. Open the Temporal Web UI at ${temporal.uiUrl} (the dev server keeps running; stop it with: npm run demo -- --stop)`);
    });
}

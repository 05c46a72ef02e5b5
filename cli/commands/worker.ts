/** `dwh-import worker`: runs a worker until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { loadConnectionFile } from '../../config/load.ts';
import { createWorker } from '../../worker.ts';
import { deploymentFrom, temporalFrom, withDeploymentOptions, withTemporalOptions } from '../context.ts';

export function register(program: Command): void {
  withDeploymentOptions(
    withTemporalOptions(
      program
        .command('worker')
        .description('run a worker: executes sync runs (needs KLAVIYO_API_KEY; KLAVIYO_BASE_URL for a local API)')
        .option('--klaviyo-url <url>', 'Klaviyo API base URL (env KLAVIYO_BASE_URL)')
        .option('--no-rate-limit', 'send unpaced (only for a local API with its limits off)'),
    ),
  ).action(async (opts) => {
    const t = temporalFrom(opts);
    const d = deploymentFrom(opts);
    if (!d.klaviyoApiKey) throw new Error('KLAVIYO_API_KEY is not set: the worker needs a Klaviyo private API key (pk_...)');
    const w = await createWorker({
      temporal: t,
      connection: loadConnectionFile(d.connectionFile),
      statePath: d.statePath,
      klaviyo: { apiKey: d.klaviyoApiKey, baseUrl: opts.klaviyoUrl ?? d.klaviyoBaseUrl },
      rateLimits: opts.rateLimit === false ? null : undefined,
    });
    console.log(`worker polling ${t.address} namespace ${t.namespace} task queue ${t.taskQueue}`);
    await w.worker.run();
    await w.close();
  });
}

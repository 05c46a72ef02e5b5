/** `dwh-import local-api`: runs the local Klaviyo-compatible API in the foreground. */
import type { Command } from 'commander';
import { startLocalKlaviyo } from '../../local-api/server.ts';

export function register(program: Command): void {
  program
    .command('local-api')
    .description('run the local Klaviyo-compatible API (the demo and test destination)')
    .option('--port <n>', 'port', '8765')
    .option('--host <ip>', 'interface', '127.0.0.1')
    .option('--api-key <key>', 'accepted private key', 'pk_local_dev')
    .option('--no-limits', 'switch rate limits off')
    .action(async (opts) => {
      const api = await startLocalKlaviyo({
        port: Number(opts.port),
        host: opts.host,
        apiKeys: [opts.apiKey],
        limits: opts.limits === false ? { bulk: null, single: null } : undefined,
      });
      console.log(`local Klaviyo API at ${api.url} (key ${opts.apiKey === 'pk_local_dev' ? 'pk_local_dev' : '<given>'}); read back at ${api.url}/_local/events`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await api.close();
    });
}

/**
 * `dwh-import local-api`: runs the local Klaviyo-compatible API in the foreground (until SIGINT/SIGTERM).
 * Point a worker at it with `KLAVIYO_BASE_URL=http://127.0.0.1:8765 KLAVIYO_API_KEY=pk_local_dev`.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { checkFaults, describeSetup, KLAVIYO_LIMITS, startLocalKlaviyo, type Faults, type LocalLimits } from '../../local-api/server.ts';

function share(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${name} is a share between 0 and 1, e.g. 0.1`);
    return n;
  };
}

function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

export function register(program: Command): void {
  program
    .command('local-api')
    .description('run the local Klaviyo-compatible API (the demo and test destination; faults can be injected)')
    .option('--port <n>', 'port (0 picks a free one)', count, 8765)
    .option('--host <ip>', 'interface', '127.0.0.1')
    .option('--api-key <key>', 'accepted private key (repeatable)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--read-only-key <key>', 'a key without the events:write scope (answers 403)')
    .option('--no-limits', "switch rate limits off (default: Klaviyo's, bulk 10/s + 150/min, single 350/s + 3,500/min)")
    .option('--fail-500 <share>', 'share of event requests answered 500', share('--fail-500'))
    .option('--fail-503 <share>', 'share answered 503', share('--fail-503'))
    .option('--drop <share>', 'share whose connection is cut before processing', share('--drop'))
    .option('--drop-after-accept <share>', 'share stored and then cut (the client cannot know)', share('--drop-after-accept'))
    .option('--slow <share>', 'share of requests held --slow-ms before processing (default all when --slow-ms is given)', share('--slow'))
    .option('--slow-ms <ms>', 'delay of slow requests (default 2000)', count)
    .option('--late-answer <share>', 'share stored and then answered after --late-answer-ms', share('--late-answer'))
    .option('--late-answer-ms <ms>', 'delay of late answers (default 2000)', count)
    .option('--throttle-burst <share>', 'share of requests that start a burst of 429s', share('--throttle-burst'))
    .option('--burst-length <n>', '429s per injected burst (default 5)', count)
    .option('--omit-pointers', '400 answers without source.pointer')
    .option('--faults <json>', 'faults as JSON, e.g. \'{"error500":0.1,"drop":0.05}\' (see local-api/server.ts Faults)')
    .option('--seed <n>', 'seed of the fault dice', count)
    .option('--window-origin <epoch-ms>', 'instant the rate-limit windows start at (default: now)', count)
    .action(async (opts) => {
      let faults: Faults = {};
      try {
        faults = opts.faults ? checkFaults(JSON.parse(opts.faults)) : {};
      } catch (e) {
        throw new InvalidArgumentError(`--faults: ${(e as Error).message}`);
      }
      const flag: Faults = {
        error500: opts.fail500,
        error503: opts.fail503,
        drop: opts.drop,
        dropAfterAccept: opts.dropAfterAccept,
        slow: opts.slow,
        slowMs: opts.slowMs,
        lateAnswer: opts.lateAnswer,
        lateAnswerMs: opts.lateAnswerMs,
        throttleBurst: opts.throttleBurst,
        burstLength: opts.burstLength,
        omitPointers: opts.omitPointers,
        seed: opts.seed,
      };
      for (const [k, v] of Object.entries(flag)) if (v !== undefined) (faults as Record<string, unknown>)[k] = v;
      faults = checkFaults(faults);
      const keys: string[] = opts.apiKey ?? ['pk_local_dev'];
      const limits: LocalLimits = opts.limits === false ? { bulk: null, single: null } : KLAVIYO_LIMITS;
      const api = await startLocalKlaviyo({
        port: opts.port,
        host: opts.host,
        apiKeys: [...keys, ...(opts.readOnlyKey ? [{ key: opts.readOnlyKey, scopes: ['events:read'] }] : [])],
        limits,
        faults,
        windowOriginMs: opts.windowOrigin,
      });
      const shownKeys = keys.map((k) => (k === 'pk_local_dev' ? k : `${k.slice(0, 5)}...`)).join(', ');
      console.log(`local Klaviyo API listening on ${api.url} (keys: ${shownKeys}; ${describeSetup(limits, faults)})`);
      console.log(`  POST ${api.url}/api/event-bulk-create-jobs, ${api.url}/api/events; read back: GET ${api.url}/_local/events, /_local/profiles, /_local/stats; change faults: PUT ${api.url}/_local/faults`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await api.close();
    });
}

/**
 * Finding or building the `temporal` CLI (which embeds the Temporal dev server and its Web UI).
 * Order: $TEMPORAL_CLI, a `temporal` on PATH, the cached build, else
 * `go install github.com/temporalio/cli/cmd/temporal@v1.5.1` into the cache (several minutes once).
 * The cache lives outside the repository: $DWH_IMPORT_CACHE, else $XDG_CACHE_HOME/dwh-import, else
 * ~/.cache/dwh-import.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The pinned CLI version: the newest tag whose go.mod has no `replace` directive (temporal.md). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

/** The cache folder for tools this project builds. */
export function cacheDir(env = process.env): string {
  return env.DWH_IMPORT_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'dwh-import');
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/** The CLI if one exists already (no build). */
export function findTemporalCli(): string | undefined {
  if (process.env.TEMPORAL_CLI && existsSync(process.env.TEMPORAL_CLI)) return process.env.TEMPORAL_CLI;
  const cached = join(cacheDir(), 'bin', 'temporal');
  if (existsSync(cached)) return cached;
  return onPath('temporal');
}

/**
 * Returns the path of a `temporal` CLI, building it with Go when none exists.
 * @param log receives progress lines (the build prints Go's output).
 * @throws Error when Go is missing or the build fails, with what to do about it.
 */
export async function ensureTemporalCli(log: (line: string) => void = () => {}): Promise<string> {
  const found = findTemporalCli();
  if (found) return found;
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) {
    throw new Error('no `temporal` CLI found and Go is not installed: install the Temporal CLI (https://docs.temporal.io/cli) or Go 1.23+, then retry');
  }
  const bin = join(cacheDir(), 'bin');
  mkdirSync(bin, { recursive: true });
  log(`building the Temporal CLI (${TEMPORAL_CLI_MODULE}) into ${bin}; the first build takes several minutes...`);
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const p = spawn('go', ['install', TEMPORAL_CLI_MODULE], { env: { ...process.env, GOBIN: bin }, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const onData = (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`go install ${TEMPORAL_CLI_MODULE} failed (exit ${code}):\n${tail}`))));
  });
  log(`built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s`);
  return join(bin, 'temporal');
}

/**
 * Starting a Temporal dev server (`temporal server start-dev`) with a SQLite file, the Web UI and the
 * search attributes this tool needs. Used by the demo (a long-lived background server, reused across
 * runs) and by the test harness (a server per test run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.ts';

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface DevServerOptions {
  cli: string;
  /** SQLite file of the server; omitted = in memory. */
  dbFile?: string;
  port: number;
  uiPort?: number;
  /** No Web UI (tests). */
  headless?: boolean;
  /** Extra `--dynamic-config-value KEY=VALUE` pairs. */
  dynamicConfig?: Record<string, unknown>;
  /** Run detached (survives this process) and write its output to `logFile`. */
  detached?: boolean;
  logFile?: string;
}

/** Arguments of `temporal server start-dev` for these options. */
export function devServerArgs(o: DevServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(o.port), '--log-level', 'warn', '--log-format', 'json'];
  if (o.dbFile) args.push('--db-filename', o.dbFile);
  if (o.headless) args.push('--headless');
  else if (o.uiPort) args.push('--ui-port', String(o.uiPort));
  for (const sa of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${sa.name}=${sa.type}`);
  for (const [k, v] of Object.entries(o.dynamicConfig ?? {})) args.push('--dynamic-config-value', `${k}=${JSON.stringify(v)}`);
  return args;
}

/** Waits until a Temporal frontend answers at `address`. @throws Error after `timeoutMs`. */
export async function waitForTemporal(address: string, timeoutMs = 60_000, isDead?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const dead = isDead?.();
    if (dead) throw new Error(dead);
    try {
      const c = await Connection.connect({ address, connectTimeout: 1000 });
      await c.workflowService.getSystemInfo({});
      await c.close();
      return;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`Temporal did not answer at ${address} within ${timeoutMs} ms: ${(last as Error)?.message}`);
}

/** A dev server started by this process. */
export interface DevServer {
  address: string;
  uiUrl?: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a dev server and waits until it answers. */
export async function startDevServer(o: DevServerOptions): Promise<DevServer> {
  if (o.dbFile) mkdirSync(dirname(o.dbFile), { recursive: true });
  let out: number | 'ignore' = 'ignore';
  if (o.logFile) {
    mkdirSync(dirname(o.logFile), { recursive: true });
    out = openSync(o.logFile, 'a');
  }
  const child = spawn(o.cli, devServerArgs(o), { stdio: ['ignore', out, out], detached: o.detached ?? false });
  if (typeof out === 'number') closeSync(out);
  let exited: string | undefined;
  child.on('exit', (code, sig) => (exited = `the Temporal dev server exited (${code ?? sig})${o.logFile ? `; see ${o.logFile}` : ''}`));
  if (o.detached) child.unref();
  const address = `127.0.0.1:${o.port}`;
  try {
    await waitForTemporal(address, 60_000, () => exited);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    address,
    uiUrl: o.headless ? undefined : `http://localhost:${o.uiPort ?? o.port + 1000}`,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}

/** State of the demo's background dev server, kept in `<dataDir>/temporal.json`. */
interface DevState {
  pid: number;
  port: number;
  uiPort: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Ensures the demo's long-lived dev server runs (reusing it when already up), so the Web UI stays
 * available after the demo ends. Stop it with `stopBackgroundDevServer`.
 */
export async function ensureBackgroundDevServer(
  cli: string,
  dataDir: string,
  ports = { port: 7233, uiPort: 8233 },
): Promise<{ address: string; uiUrl: string; reused: boolean }> {
  const stateFile = join(dataDir, 'temporal.json');
  if (existsSync(stateFile)) {
    const s = JSON.parse(readFileSync(stateFile, 'utf8')) as DevState;
    if (alive(s.pid)) {
      const address = `127.0.0.1:${s.port}`;
      await waitForTemporal(address, 20_000);
      return { address, uiUrl: `http://localhost:${s.uiPort}`, reused: true };
    }
  }
  // Something already answers on the port (a dev server started by hand, or by another checkout): use it.
  const address = `127.0.0.1:${ports.port}`;
  if (await waitForTemporal(address, 1500).then(() => true, () => false)) {
    return { address, uiUrl: `http://localhost:${ports.uiPort}`, reused: true };
  }
  const srv = await startDevServer({
    cli,
    dbFile: join(dataDir, 'temporal.db'),
    port: ports.port,
    uiPort: ports.uiPort,
    detached: true,
    logFile: join(dataDir, 'temporal.log'),
  });
  writeFileSync(stateFile, JSON.stringify({ pid: srv.process.pid ?? 0, port: ports.port, uiPort: ports.uiPort } satisfies DevState));
  return { address: srv.address, uiUrl: srv.uiUrl!, reused: false };
}

/** Stops the demo's background dev server. @returns whether one was running. */
export function stopBackgroundDevServer(dataDir: string): boolean {
  const stateFile = join(dataDir, 'temporal.json');
  if (!existsSync(stateFile)) return false;
  const s = JSON.parse(readFileSync(stateFile, 'utf8')) as DevState;
  rmSync(stateFile);
  if (!alive(s.pid)) return false;
  process.kill(s.pid, 'SIGTERM');
  return true;
}

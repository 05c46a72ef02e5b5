/**
 * The local Snowflake-compatible server of the tests: fakesnow (PyPI) behind `shim.py`, installed once
 * into a cached virtual environment outside the repository and started on a free loopback port.
 *
 * - `ensureFakesnow()` creates `~/.cache/dwh-import/fakesnow-venv` (or `$DWH_IMPORT_FAKESNOW_VENV`) and
 *   installs `requirements.txt` into it; later calls return at once while the requirements are unchanged.
 * - `startFakesnow()` starts the shim and resolves when it accepts connections.
 * - `fakesnowUrl()` is what test files call: `$FAKESNOW_TEST_ADDRESS` (set by `.ci/run`, `host:port` or
 *   a URL) when present, else a server started for this test file (stopped by the returned `stop`).
 *
 * No vitest import here: `.ci/run` imports this module too.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const requirementsFile = resolve(here, 'requirements.txt');
const shimFile = resolve(here, 'shim.py');
const run = promisify(execFile);

/** Where the virtual environment lives. */
export function fakesnowVenv(env = process.env): string {
  return env.DWH_IMPORT_FAKESNOW_VENV ?? join(homedir(), '.cache', 'dwh-import', 'fakesnow-venv');
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Serialises installs between processes (vitest runs test files in parallel forks). */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${dir}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock} (remove it if no install is running)`);
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Makes sure the virtual environment holds the pinned fakesnow; returns its Python interpreter.
 * Uses `$FAKESNOW_PYTHON` or `python3` (3.11 or newer) to create it.
 * @throws Error with pip's output when the install fails.
 */
export async function ensureFakesnow(log: (line: string) => void = () => {}): Promise<string> {
  const venv = fakesnowVenv();
  const python = join(venv, 'bin', 'python');
  const stamp = join(venv, '.dwh-import-requirements');
  const want = createHash('sha256').update(readFileSync(requirementsFile)).digest('hex');
  const current = () => existsSync(python) && existsSync(stamp) && readFileSync(stamp, 'utf8') === want;
  if (current()) return python;
  return withLock(venv, async () => {
    if (current()) return python;
    if (!existsSync(python)) {
      log(`creating the fakesnow virtual environment in ${venv}`);
      await run(process.env.FAKESNOW_PYTHON ?? 'python3', ['-m', 'venv', venv]);
    }
    log('installing fakesnow[server] from PyPI (test/fakesnow/requirements.txt)');
    try {
      await run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', requirementsFile], { maxBuffer: 16 << 20 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`pip install of fakesnow failed: ${err.stderr || err.message}`);
    }
    writeFileSync(stamp, want);
    return python;
  });
}

/** A running shim. */
export interface FakesnowServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the shim on a free loopback port.
 * @throws Error with the server's output when it does not come up within 60 s.
 */
export async function startFakesnow(python?: string): Promise<FakesnowServer> {
  const py = python ?? (await ensureFakesnow());
  const child: ChildProcess = spawn(py, [shimFile, '--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`fakesnow did not start within 60 s:\n${output}`)), 60_000);
    const onData = (b: Buffer) => {
      output += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fakesnow exited with code ${code}:\n${output}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** The server for a test file: `$FAKESNOW_TEST_ADDRESS` when set, else one started now. */
export async function fakesnowUrl(env = process.env): Promise<FakesnowServer> {
  const given = env.FAKESNOW_TEST_ADDRESS;
  if (given) return { url: given.startsWith('http') ? given : `http://${given}`, stop: async () => {} };
  return startFakesnow();
}

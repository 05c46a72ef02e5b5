#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=8
// Entry point of the `dwh-import` CLI.
//
// The first line sets the memory tuning of a long-running worker (measured with `npm run bench`):
// glibc keeps one malloc arena per thread that touched it (DuckDB, the Temporal core and libuv run
// several), 2 arenas return far more freed memory; V8's young generation capped at 8 MB semi-spaces
// instead of up to 16 MB. Together about 50 MB less peak RSS at equal CPU.
// `node bin/dwh-import.js` (bypassing that line) runs with Node's defaults.
//
// The TypeScript sources run from a bundle built by esbuild into `.build/cli-<hash>/` (hash of the
// sources, rebuilt when one changes, ~0.1 s): loading it needs no TypeScript loader at run time, and
// tsx's loader costs a thread with its own JS heap (~40 MB RSS, measured on an idle worker).
// DWH_IMPORT_NO_BUNDLE=1, or a failed build, runs the sources through tsx instead.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const entry = join(repo, 'cli', 'main.ts');

/** Hash of the path and content of every .ts file the CLI can load (not tests, scripts, benchmarks): ~7 ms for ~85 files. */
function sourcesHash() {
  const h = createHash('sha256');
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.') || ['node_modules', 'test', 'scripts', 'bench', 'dist'].includes(e.name)) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) h.update(`${p}\0`).update(readFileSync(p));
    }
  };
  walk(repo);
  h.update(process.version);
  return h.digest('hex').slice(0, 16);
}

/** Path of the bundle's entry for the current sources, building it when missing; null when it cannot be built. */
async function bundledEntry() {
  const buildDir = join(repo, '.build');
  const out = join(buildDir, `cli-${sourcesHash()}`);
  const main = join(out, 'main.js');
  if (existsSync(main)) return markInUse(out, main);
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    return null;
  }
  // Built into a private folder and renamed into place: concurrent starts never see half a bundle.
  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
  try {
    mkdirSync(buildDir, { recursive: true });
    await esbuild.build({
      entryPoints: { main: entry },
      bundle: true,
      splitting: true, // lazy imports (commands, the SDK sender, snowflake-sdk) stay lazy
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external', // dependencies load from node_modules as usual
      keepNames: true,
      outdir: tmp,
      logLevel: 'silent',
    });
    try {
      renameSync(tmp, out);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another process put the same bundle in place
    }
    pruneBundles(buildDir, out);
    return existsSync(main) ? markInUse(out, main) : null;
  } catch {
    rmSync(tmp, { recursive: true, force: true });
    return null;
  }
}

/**
 * Marks the bundle as used by this process (`.in-use-<pid>`, removed at exit) and refreshes its
 * mtime: a process keeps loading chunks of its bundle long after it started (a command's module, the
 * SDK sender, the Snowflake reader), so no other process may delete it meanwhile.
 */
function markInUse(dir, main) {
  const marker = join(dir, `.in-use-${process.pid}`);
  try {
    writeFileSync(marker, '');
    const now = new Date();
    utimesSync(dir, now, now);
    process.once('exit', () => {
      try {
        unlinkSync(marker);
      } catch {
        // already gone
      }
    });
  } catch {
    // a read-only checkout: nothing to mark, and nothing will prune it either
  }
  return main;
}

/** Deletes bundles of other sources unused for a day whose marked processes are all gone. */
function pruneBundles(buildDir, keep) {
  for (const e of readdirSync(buildDir)) {
    const dir = join(buildDir, e);
    try {
      if (dir === keep || Date.now() - statSync(dir).mtimeMs < 86_400_000) continue;
      const live = readdirSync(dir).some((f) => {
        const pid = /^\.in-use-(\d+)$/.exec(f)?.[1];
        if (!pid) return false;
        try {
          process.kill(Number(pid), 0);
          return true;
        } catch (err) {
          return err.code === 'EPERM'; // alive, another user's
        }
      });
      if (!live) rmSync(dir, { recursive: true, force: true });
    } catch {
      // raced with another pruner
    }
  }
}

const main = process.env.DWH_IMPORT_NO_BUNDLE === '1' ? null : await bundledEntry();
if (main) {
  await import(pathToFileURL(main).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(entry).href);
}

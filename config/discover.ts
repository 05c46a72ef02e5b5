/** Finding the sync files of a deployment and checking them together (names unique across files). */
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkSyncFile, type FileCheck } from './load.ts';
import { ConfigError, isError, type ConfigProblem } from './problems.ts';
import type { SourceDoc } from './source.ts';
import type { SyncConfig } from './types.ts';

/**
 * Every `*.yaml` / `*.yml` file under `dir` and its sub-folders (syncs organised by team or domain),
 * sorted by path; hidden files and folders and `node_modules` skipped. `dir` itself when it is a file.
 * @throws Error (ENOENT) when `dir` does not exist.
 */
export function listSyncFiles(dir: string): string[] {
  if (statSync(dir).isFile()) return [dir];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/i.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** A sync and the file it came from. */
export interface LoadedSync {
  file: string;
  sync: SyncConfig;
  /** The parsed file, for positions of later checks (`validate --connect`). */
  source?: SourceDoc;
}

/** Every sync file under `paths` checked, plus the problems across files. */
export interface SyncsCheck {
  /** Files checked, in order. */
  files: FileCheck<SyncConfig>[];
  /** Syncs without errors (and whose name is not taken by an earlier file). */
  syncs: LoadedSync[];
  /** Every problem of every file, warnings included, in file order. */
  problems: ConfigProblem[];
}

/**
 * Checks every sync file under the given files or folders, and that sync names are unique across
 * files (a name is a Temporal Schedule id). A path that does not exist is a problem, not an exception.
 */
export function checkSyncs(paths: string[]): SyncsCheck {
  const problems: ConfigProblem[] = [];
  const files: FileCheck<SyncConfig>[] = [];
  const syncs: LoadedSync[] = [];
  const listed: string[] = [];
  const real = new Set<string>();
  for (const p of paths) {
    let list: string[];
    try {
      list = listSyncFiles(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problems.push({ file: p, line: 1, column: 1, message: code === 'ENOENT' ? 'no such file or folder' : `cannot read: ${(e as Error).message}`, code: 'file' });
      continue;
    }
    for (const f of list) {
      let key = f;
      try {
        key = realpathSync(f);
      } catch {
        /* reported when read */
      }
      if (real.has(key)) continue; // the same file named twice is checked once
      real.add(key);
      listed.push(f);
    }
  }
  const seen = new Map<string, { file: string; line: number; column: number }>();
  for (const file of listed) {
    const c = checkSyncFile(file);
    files.push(c);
    problems.push(...c.problems);
    // The name is checked even when the file has other errors, so one pass reports a clash too.
    const name = c.config?.name ?? nameOf(c);
    if (name === undefined) continue;
    const at = c.source ? c.source.pos(['name']) : { line: 1, column: 1 };
    const other = seen.get(name);
    if (other) {
      problems.push({
        file,
        ...at,
        message: `sync name "${name}" is already used by ${other.file}:${other.line}:${other.column}; each sync needs its own name (it is the Temporal Schedule id)`,
        code: 'duplicate-name',
      });
      continue;
    }
    seen.set(name, { file, ...at });
    if (c.config) syncs.push({ file, sync: c.config, source: c.source });
  }
  return { files, syncs, problems };
}

function nameOf(c: FileCheck<SyncConfig>): string | undefined {
  const v = c.source?.value as { name?: unknown } | undefined;
  return v && typeof v === 'object' && typeof v.name === 'string' && /^[a-z0-9][a-z0-9_-]{0,62}$/.test(v.name) ? v.name : undefined;
}

/**
 * Loads every sync file under the given paths and checks names are unique across files.
 * @throws ConfigError with every problem of every file when any is an error.
 */
export function loadSyncs(paths: string[]): LoadedSync[] {
  const r = checkSyncs(paths);
  if (r.problems.some(isError)) throw new ConfigError(r.problems);
  return r.syncs;
}

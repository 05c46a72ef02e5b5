/** Finding the sync files of a deployment. */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadSyncFile, type ConfigProblem } from './load.ts';
import type { SyncConfig } from './types.ts';

/** Every `*.yaml` / `*.yml` file directly under `dir` (sorted), or `dir` itself when it is a file. */
export function listSyncFiles(dir: string): string[] {
  if (statSync(dir).isFile()) return [dir];
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/i.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** A sync and the file it came from. */
export interface LoadedSync {
  file: string;
  sync: SyncConfig;
}

/**
 * Loads every sync file under the given paths and checks names are unique across files.
 * @throws ConfigError with every problem of every file.
 */
export function loadSyncs(paths: string[]): LoadedSync[] {
  const problems: ConfigProblem[] = [];
  const out: LoadedSync[] = [];
  const seen = new Map<string, string>();
  for (const file of paths.flatMap(listSyncFiles)) {
    try {
      const sync = loadSyncFile(file);
      const other = seen.get(sync.name);
      if (other) problems.push({ file, line: 1, column: 1, message: `sync name "${sync.name}" is already used by ${other}` });
      seen.set(sync.name, file);
      out.push({ file, sync });
    } catch (e) {
      if (e instanceof ConfigError) problems.push(...e.problems);
      else throw e;
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}

/**
 * The repository's root folder (the one holding dwh-import's package.json), found by walking up from
 * this module. Resolving paths from it (not from `import.meta.url` of each module) keeps them right
 * when the CLI runs from its bundle in `.build/` (see bin/dwh-import.js).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'dwh-import') return dir;
      } catch {
        // not ours: keep walking
      }
    }
    if (dirname(dir) === dir) throw new Error(`dwh-import: no package.json of dwh-import above ${start}`);
  }
}

/** Absolute path of the repository root. */
export const REPO_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=8
// The first line sets the memory tuning of a long-running worker (measured with `npm run bench`):
// glibc keeps one malloc arena per thread that touched it (DuckDB, the Temporal core and libuv run
// several), 2 arenas return far more freed memory; V8's young generation capped at 8 MB semi-spaces
// instead of up to 16 MB. Together about 50 MB less peak RSS at a few percent more CPU.
// `node bin/dwh-import.js` (bypassing this line) runs with Node's defaults.
// Entry point of the `dwh-import` CLI: runs the TypeScript sources through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');

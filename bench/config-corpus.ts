/**
 * Times the validator on every file of the invalid-config corpus and on generated hostile input
 * (a 10 MB file, a file of keys up to the size limit, deep nesting), and prints per file the median
 * and worst of `RUNS` runs plus the process's peak RSS. Run: `npx tsx bench/config-corpus.ts`.
 * Figures depend on the machine's load: run it on a quiet machine to compare.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { checkConnectionFile, checkSyncFile } from '../config/load.ts';
import { MAX_FILE_BYTES } from '../config/source.ts';

const RUNS = Number(process.env.RUNS ?? 5);
const fixtures = join(import.meta.dirname, '..', 'test', 'fixtures', 'config');
const tmp = mkdtempSync(join(tmpdir(), 'dwh-import-bench-'));

const generated: [string, string][] = [
  ['ten-megabytes.yaml', `name: big\ndescription: "${'x'.repeat(10 * 1024 * 1024)}"\n`],
  ['keys-to-the-limit.yaml', (() => {
    let t = '';
    for (let i = 0; t.length < MAX_FILE_BYTES - 64; i++) t += `key_${i}: value\n`;
    return t;
  })()],
  ['deep-block-nesting.yaml', (() => {
    let t = 'a:\n';
    for (let i = 1; t.length < MAX_FILE_BYTES - 1024; i++) t += `${' '.repeat(i)}b:\n`;
    return t;
  })()],
  ['duplicate-keys.yaml', `mapping:\n  profile:\n${'    email: e\n'.repeat(Math.floor((MAX_FILE_BYTES - 64) / 13))}`],
];
for (const [name, text] of generated) writeFileSync(join(tmp, name), text);

const files: [string, (f: string) => unknown][] = [
  ...readdirSync(join(fixtures, 'invalid')).map((f) => [join(fixtures, 'invalid', f), checkSyncFile] as [string, (f: string) => unknown]),
  ...readdirSync(join(fixtures, 'invalid-connection')).map((f) => [join(fixtures, 'invalid-connection', f), checkConnectionFile] as [string, (f: string) => unknown]),
  ...generated.map(([name]) => [join(tmp, name), checkSyncFile] as [string, (f: string) => unknown]),
];

const rows: { file: string; median: number; worst: number }[] = [];
for (const [file, check] of files) {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    check(file);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  rows.push({ file: file.replace(fixtures + '/', '').replace(tmp + '/', 'generated/'), median: times[Math.floor(times.length / 2)], worst: times[times.length - 1] });
}
rows.sort((a, b) => b.worst - a.worst);
console.log(`validator on ${rows.length} files, ${RUNS} runs each (ms):`);
for (const r of rows) console.log(`  ${r.file.padEnd(58)} median ${r.median.toFixed(1).padStart(7)}  worst ${r.worst.toFixed(1).padStart(7)}`);
console.log(`slowest worst case: ${rows[0].worst.toFixed(1)} ms (${rows[0].file}); peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);

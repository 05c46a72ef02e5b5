/** Writing test tables into a real DuckDB file (opened read-write only while writing). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

/** A fresh temporary folder. */
export function tempDir(prefix = 'dwh-import-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs SQL statements against the DuckDB file at `path` (created if missing), then closes it. */
export async function duckdbExec(path: string, ...statements: string[]): Promise<void> {
  const db = await DuckDBInstance.create(path);
  const c = await db.connect();
  try {
    await c.run("SET TimeZone = 'UTC'");
    for (const s of statements) await c.run(s);
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

/** Runs one query and returns its rows as JSON-friendly objects. */
export async function duckdbQuery(path: string, sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(path);
  const c = await db.connect();
  try {
    await c.run("SET TimeZone = 'UTC'");
    const r = await c.runAndReadAll(sql);
    return r.getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

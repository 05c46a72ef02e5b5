/**
 * Keyset paging over the compound cursor on real DuckDB files: for random tables full of equal change
 * timestamps, NULL and repeated tie-break keys, every page size and every column type, paging from
 * the start up to a bound reads each eligible row exactly once, in cursor order.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openDuckDBReader } from '../activities/warehouse/duckdb.ts';
import type { SourceColumn } from '../activities/warehouse/types.ts';
import { compareCursor, type Cursor } from '../incremental/cursor.ts';
import { cursorOf } from '../incremental/sql.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';

const dir = tempDir();
let n = 0;

type ChangeType = 'TIMESTAMP' | 'TIMESTAMP_NS' | 'TIMESTAMPTZ' | 'DATE';
type KeyType = 'INTEGER' | 'VARCHAR' | 'none';

function changeLiteral(type: ChangeType, i: number): string {
  // Few distinct values (many ties); for TIMESTAMP_NS they differ only below the microsecond.
  switch (type) {
    case 'TIMESTAMP':
      return `TIMESTAMP '2024-01-01 00:00:00' + INTERVAL ${i} SECOND`;
    case 'TIMESTAMP_NS':
      return `TIMESTAMP_NS '2024-01-01 00:00:00.000001${String(i * 7).padStart(3, '0')}'`;
    case 'TIMESTAMPTZ':
      return `TIMESTAMPTZ '2024-01-01 00:00:00+00' + INTERVAL ${i} MINUTE`;
    case 'DATE':
      return `DATE '2024-01-01' + ${i}`;
  }
}

async function pageAll(path: string, opts: { keyType: KeyType; changeType: ChangeType; pageSize: number; until: string; start: Cursor | null }) {
  const reader = await openDuckDBReader(path);
  try {
    const columns = await reader.describe('t');
    const change = columns.find((c) => c.name === 'chg')!;
    const tieBreaker: SourceColumn | undefined = opts.keyType === 'none' ? undefined : columns.find((c) => c.name === 'k');
    const keyIdx = tieBreaker ? columns.indexOf(tieBreaker) : undefined;
    const changeIdx = columns.indexOf(change);
    const seen: number[] = [];
    const cursors: Cursor[] = [];
    let after = opts.start;
    for (let guard = 0; guard < 10_000; guard++) {
      const page = await reader.readPage({ table: 't', columns, change, tieBreaker, after, until: opts.until, limit: opts.pageSize });
      for (const row of page.rows) {
        seen.push(row[0] as number);
        cursors.push(cursorOf(row, changeIdx, keyIdx));
      }
      if (page.rows.length < opts.pageSize) break;
      after = cursorOf(page.rows[page.rows.length - 1], changeIdx, keyIdx);
    }
    return { seen, cursors, keyOrder: opts.keyType === 'INTEGER' ? ('numeric' as const) : ('text' as const) };
  } finally {
    await reader.close();
  }
}

const bounds = new Map<ChangeType, Promise<string[]>>();

/** The literals of `changeLiteral(type, 0..5)` as the reader formats that column's values. */
function boundLiterals(type: ChangeType): Promise<string[]> {
  if (!bounds.has(type)) {
    bounds.set(
      type,
      (async () => {
        const probe = join(dir, `bounds-${type}.duckdb`);
        const vals = [0, 1, 2, 3, 4, 5].map((i) => `(${i}, ${changeLiteral(type, i)}, NULL)`);
        await duckdbExec(probe, `CREATE TABLE t (id INTEGER, chg ${type}, k VARCHAR)`, `INSERT INTO t VALUES ${vals.join(', ')}`);
        const r = await openDuckDBReader(probe);
        const cols = await r.describe('t');
        const page = await r.readPage({ table: 't', columns: cols, change: cols[1], after: null, until: '2200-01-01', limit: 100 });
        await r.close();
        return page.rows.map((row) => String(row[1]));
      })(),
    );
  }
  return bounds.get(type)!;
}

describe('keyset pages over the compound cursor (real DuckDB)', () => {
  it('read every row up to the bound exactly once, in cursor order, whatever the ties, NULLs and page size', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<ChangeType>('TIMESTAMP', 'TIMESTAMP_NS', 'TIMESTAMPTZ', 'DATE'),
        fc.constantFrom<KeyType>('INTEGER', 'VARCHAR', 'none'),
        fc.array(fc.record({ chg: fc.option(fc.integer({ min: 0, max: 5 }), { freq: 8 }), key: fc.option(fc.integer({ min: 0, max: 6 }), { freq: 4 }) }), {
          minLength: 0,
          maxLength: 60,
        }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 5 }),
        async (changeType, keyType, rows, pageSize, untilIdx) => {
          const path = join(dir, `t${n++}.duckdb`);
          const keyDecl = keyType === 'none' ? 'VARCHAR' : keyType;
          const values = rows.map((r, i) => {
            const chg = r.chg === null ? 'NULL' : changeLiteral(changeType, r.chg);
            const key = r.key === null ? 'NULL' : keyType === 'VARCHAR' ? `'k${r.key}'` : String(r.key);
            return `(${i}, ${chg}, ${key})`;
          });
          await duckdbExec(path, `CREATE TABLE t (id INTEGER, chg ${changeType}, k ${keyDecl})`, ...(values.length ? [`INSERT INTO t VALUES ${values.join(', ')}`] : []));
          const until = (await boundLiterals(changeType))[untilIdx];
          const got = await pageAll(path, { keyType, changeType, pageSize, until, start: null });
          const expected = rows.flatMap((r, i) => (r.chg !== null && r.chg <= untilIdx ? [i] : []));
          expect([...got.seen].sort((a, b) => a - b)).toEqual(expected);
          for (let i = 1; i < got.cursors.length; i++) {
            expect(compareCursor(got.cursors[i - 1], got.cursors[i], got.keyOrder)).toBeLessThanOrEqual(0);
          }
        },
      ),
      { numRuns: 50 },
    );
  }, 300_000);

  it('an inclusive cursor reads the rows at its timestamp whatever their key; an exclusive one reads after it', async () => {
    const path = join(dir, 'incl.duckdb');
    await duckdbExec(
      path,
      'CREATE TABLE t (id INTEGER, chg TIMESTAMP, k INTEGER)',
      `INSERT INTO t VALUES (1, '2024-01-01 00:00:00', 5), (2, '2024-01-01 00:00:01', NULL), (3, '2024-01-01 00:00:01', 1), (4, '2024-01-01 00:00:02', 1)`,
    );
    const until = '2024-01-02T00:00:00.000000';
    const incl = await pageAll(path, { keyType: 'INTEGER', changeType: 'TIMESTAMP', pageSize: 10, until, start: { ts: '2024-01-01T00:00:01.000000', key: null, inclusive: true } });
    expect(incl.seen).toEqual([2, 3, 4]);
    const excl = await pageAll(path, { keyType: 'INTEGER', changeType: 'TIMESTAMP', pageSize: 10, until, start: { ts: '2024-01-01T00:00:01.000000', key: null } });
    expect(excl.seen).toEqual([3, 4]); // after the NULL keys at 00:00:01
    const group = await pageAll(path, { keyType: 'none', changeType: 'TIMESTAMP', pageSize: 10, until, start: { ts: '2024-01-01T00:00:01.000000', key: null } });
    expect(group.seen).toEqual([4]);
  });

  it('a nanosecond change column pages through rows that differ below the microsecond without re-reading them', async () => {
    const path = join(dir, 'ns.duckdb');
    await duckdbExec(
      path,
      'CREATE TABLE t (id INTEGER, chg TIMESTAMP_NS, k INTEGER)',
      `INSERT INTO t VALUES (1, '2024-01-01 00:00:00.000001500', NULL), (2, '2024-01-01 00:00:00.000001700', NULL), (3, '2024-01-01 00:00:00.000002000', NULL)`,
    );
    const got = await pageAll(path, { keyType: 'none', changeType: 'TIMESTAMP_NS', pageSize: 1, until: '2024-01-02T00:00:00.000000000', start: null });
    expect(got.seen).toEqual([1, 2, 3]);
    expect(got.cursors.map((c) => c.ts)).toEqual(['2024-01-01T00:00:00.000001500', '2024-01-01T00:00:00.000001700', '2024-01-01T00:00:00.000002000']);
  });
});

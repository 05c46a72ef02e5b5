/**
 * The reader and the mapper agree: rows read from a real DuckDB file through `activities/warehouse/duckdb.ts`
 * map to exactly the events the pure tests expect from the value model (`ColumnKind`).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDBReader, type DuckDBReader } from '../activities/warehouse/duckdb.ts';
import type { SourceColumn } from '../activities/warehouse/types.ts';
import { compileMapper } from '../mapping/map-row.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { now, syncOf } from './helpers/mapping.ts';
import { RETAIL_COLUMNS, RETAIL_SYNC, retailCsvPath, retailLines, retailRow } from './helpers/retail.ts';

const dbPath = join(tempDir(), 'warehouse.duckdb');
let reader: DuckDBReader;

async function readAll(table: string, changeName: string): Promise<{ columns: SourceColumn[]; rows: unknown[][] }> {
  const columns = await reader.describe(table);
  const change = columns.find((c) => c.name === changeName)!;
  const until = change.kind === 'timestamp_tz' ? '9999-12-31T23:59:59.999999Z' : '9999-12-31T23:59:59.999999';
  const page = await reader.readPage({ table, columns, change, after: null, until, limit: 100_000 });
  return { columns, rows: page.rows };
}

beforeAll(async () => {
  const csv = retailCsvPath().replace(/'/g, "''");
  await duckdbExec(
    dbPath,
    // The first two trading days of the real file, typed by DuckDB's own CSV sniffer.
    `CREATE TABLE retail AS SELECT *, TIMESTAMP '2012-01-01 00:00:00' AS loaded_at
       FROM read_csv('${csv}', header = true) WHERE InvoiceDate < TIMESTAMP '2010-12-03'`,
    `CREATE TABLE typed (
       order_id BIGINT, email VARCHAR, phone VARCHAR, placed_on DATE, updated_at TIMESTAMPTZ,
       amount DECIMAL(38, 18), currency VARCHAR, big HUGEINT, price DECIMAL(12, 2), ratio FLOAT, dbl DOUBLE,
       gift BOOLEAN, slot TIME, shipped_at TIMESTAMPTZ, packed_at TIMESTAMP, meta JSON, tags VARCHAR[], dims STRUCT(w INTEGER, h INTEGER),
       sig BLOB, ship___city VARCHAR, ship___zip VARCHAR, note VARCHAR)`,
    `INSERT INTO typed VALUES
       (1, ' Ann@Example.org ', '020 7946 0018', DATE '2024-03-10', TIMESTAMPTZ '2024-03-11 00:00:00+00',
        19.900000000000000000, 'gbp', 170141183460469231731687303715884105727, 12.50, 1.5, 0.1,
        true, TIME '10:30:00', TIMESTAMPTZ '2024-03-10 14:00:00.123456+00', TIMESTAMP '2024-07-01 10:00:00.5',
        '{"sku":"MUG-1","id":12345678901234567890}', ['a', 'b'], {'w': 2, 'h': 3},
        '\\xDE\\xAD'::BLOB, 'Leeds', NULL, ''),
       (2, 'bo@example.org', '555-0100 ext. 2', DATE '2024-03-10', TIMESTAMPTZ '2024-03-11 00:00:00+00',
        0.333333333333333333, 'EUR', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
  );
  reader = await openDuckDBReader(dbPath);
});

afterAll(async () => {
  await reader?.close();
});

describe('DuckDB reader + mapper', () => {
  it('real retail rows read from DuckDB map to exactly the events of the same CSV lines in the pure model', async () => {
    const { columns, rows } = await readAll('retail', 'loaded_at');
    expect(columns.map((c) => [c.name, c.kind])).toEqual(RETAIL_COLUMNS.map((c) => [c.name, c.kind]));
    const viaDuckDB = compileMapper(RETAIL_SYNC, columns, now);
    const pure = compileMapper(RETAIL_SYNC, RETAIL_COLUMNS, now);
    const lines = retailLines().filter((l) => /,2010-12-0[12] /.test(l));
    expect(rows.length).toBe(lines.length);
    expect(rows.length).toBeGreaterThan(4000);
    const a = rows.map((r) => JSON.stringify(viaDuckDB.map(r as never))).sort();
    const b = lines.map((l) => JSON.stringify(pure.map(retailRow(l)))).sort();
    expect(a).toEqual(b);
    const rejects = a.filter((s) => s.includes('"ok":false'));
    expect(rejects.length).toBeGreaterThan(100);
    expect(rejects.every((s) => s.includes('"reason":"missing_identifier"'))).toBe(true);
  });

  it('every DuckDB type becomes the documented event value', async () => {
    const { columns, rows } = await readAll('typed', 'updated_at');
    expect(Object.fromEntries(columns.map((c) => [c.name, c.kind]))).toEqual({
      order_id: 'integer', email: 'text', phone: 'text', placed_on: 'date', updated_at: 'timestamp_tz', amount: 'decimal', currency: 'text',
      big: 'integer', price: 'decimal', ratio: 'float', dbl: 'float', gift: 'boolean', slot: 'time', shipped_at: 'timestamp_tz',
      packed_at: 'timestamp_ntz', meta: 'json', tags: 'structured', dims: 'structured', sig: 'binary', ship___city: 'text', ship___zip: 'text', note: 'text',
    });
    const sync = syncOf({
      name: 'typed',
      metric: { name: 'Placed Order' },
      mapping: {
        event_timestamp: 'placed_on',
        change_timestamp: 'updated_at',
        unique_id: 'order_id',
        value: 'amount',
        value_currency: 'currency',
        profile: { email: 'email', phone_number: 'phone' },
      },
      options: { timestamp_zone: 'America/New_York', default_phone_region: 'GB' },
    });
    const mapper = compileMapper(sync, columns, now);
    const byId = new Map(rows.map((r) => [r[0], mapper.map(r as never)]));
    expect(byId.get(1)).toEqual({
      ok: true,
      key: '1',
      event: {
        metric: 'Placed Order',
        time: '2024-03-10T05:00:00.000Z', // DATE at midnight in America/New_York (EST, the DST change is at 02:00)
        profile: { email: 'Ann@Example.org', phone_number: '+442079460018' },
        unique_id: '1',
        value: 19.9,
        value_currency: 'GBP',
        properties: {
          big: '170141183460469231731687303715884105727',
          price: 12.5,
          ratio: 1.5,
          dbl: 0.1,
          gift: true,
          slot: '10:30:00',
          shipped_at: '2024-03-10T14:00:00.123456Z',
          packed_at: '2024-07-01T14:00:00.500000Z', // TIMESTAMP (no zone) read in America/New_York (EDT)
          meta: { sku: 'MUG-1', id: '12345678901234567890' },
          tags: ['a', 'b'],
          dims: { w: 2, h: 3 },
          sig: 'dead',
          ship: { city: 'Leeds' },
        },
      },
    });
    expect(byId.get(2)).toEqual({
      ok: false,
      key: '2',
      reject: {
        reason: 'inexact_value',
        column: 'amount',
        detail: 'value "0.333333333333333333" cannot be sent as a JSON number without changing it (the nearest is 0.3333333333333333); round it in the source, e.g. ROUND(amount, 2), or cast it to DOUBLE to accept the nearest number',
      },
    });
  });
});

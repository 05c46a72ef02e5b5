/**
 * The Snowflake reader through the real snowflake-sdk against a real local server (fakesnow behind
 * test/fakesnow/shim.py): describe, keyset pages over NUMBER(38,0) keys past 2^53 and equal change
 * timestamps, exact values, NULL change timestamps, authentication (password and key pair) and the
 * classification of failures.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openReader } from '../activities/connect.ts';
import { closeIdleSnowflakeSessions, openSnowflakeReader, SnowflakeUnavailableError, type SnowflakeReader } from '../activities/warehouse/snowflake.ts';
import { SourceError, type SourceColumn } from '../activities/warehouse/types.ts';
import { loadConnectionFile } from '../config/load.ts';
import { cursorOf } from '../incremental/sql.ts';
import type { Cursor } from '../incremental/cursor.ts';
import { fakesnowUrl, type FakesnowServer } from './fakesnow/server.ts';
import { tempDir } from './helpers/duckdb.ts';
import { injectFault, loginCount, registerUser, sessionParameters, snowflakeExec, testConnection, uniqueDatabase } from './helpers/snowflake.ts';

let server: FakesnowServer;
let reader: SnowflakeReader;
const db = uniqueDatabase('READER');
const BIG = 9007199254740993n; // 2^53 + 1

beforeAll(async () => {
  server = await fakesnowUrl();
  const rows: string[] = [];
  // 9 rows: ids 2^53+1 .. 2^53+9; ids 3..6 share one change timestamp, so keyed pages split that group.
  for (let i = 0; i < 9; i++) {
    const upd = i >= 2 && i <= 5 ? '2026-01-05 10:00:00.123456' : `2026-01-05 09:0${i}:00`;
    rows.push(`(${BIG + BigInt(i)}, 'user${i}@example.org', ${i}.05, '${upd}', '2026-01-0${i + 1} 12:00:00', '2026-01-05T10:00:00+02:00', PARSE_JSON('{"n": ${123456789012345678901n + BigInt(i)}}'), ${i % 2 === 0})`);
  }
  await snowflakeExec(
    server.url,
    db,
    'EVENTS',
    `CREATE TABLE orders (order_id NUMBER(38,0), "customerEmail" VARCHAR, amount NUMBER(12,2), updated_at TIMESTAMP_NTZ, placed_on DATE, "shippedAt" TIMESTAMP_TZ, props VARIANT, gift BOOLEAN)`,
    `INSERT INTO orders SELECT * FROM VALUES ${rows.join(', ')}`,
    `INSERT INTO orders (order_id, "customerEmail", updated_at) VALUES (1, 'null-change@example.org', NULL), (2, 'null-change2@example.org', NULL)`,
    `CREATE TABLE "Mixed Case" ("Id" NUMBER(38,0), "Order Total" VARCHAR)`,
    `INSERT INTO "Mixed Case" VALUES (1, 'lower')`,
  );
  reader = await openSnowflakeReader(testConnection(server.url, { database: db, schema: 'EVENTS' }));
});

afterAll(async () => {
  await reader?.close();
  await server?.stop();
});

describe('describe', () => {
  it('reports exact names (unquoted upper-cased, quoted mixed case kept), neutral kinds and declared types', async () => {
    const cols = await reader.describe('orders');
    expect(cols).toEqual([
      { name: 'ORDER_ID', kind: 'integer', sqlType: 'NUMBER(38,0)' },
      { name: 'customerEmail', kind: 'text', sqlType: 'VARCHAR' },
      { name: 'AMOUNT', kind: 'decimal', sqlType: 'NUMBER(12,2)' },
      { name: 'UPDATED_AT', kind: 'timestamp_ntz', sqlType: 'TIMESTAMP_NTZ(9)' },
      { name: 'PLACED_ON', kind: 'date', sqlType: 'DATE' },
      { name: 'shippedAt', kind: 'timestamp_tz', sqlType: 'TIMESTAMP_TZ(9)' },
      { name: 'PROPS', kind: 'json', sqlType: 'VARIANT' },
      { name: 'GIFT', kind: 'boolean', sqlType: 'BOOLEAN' },
    ]);
    expect(await reader.describe(`${db.toLowerCase()}.events.orders`)).toEqual(cols);
    expect((await reader.describe('"Mixed Case"')).map((c) => c.name)).toEqual(['Id', 'Order Total']);
  });

  it('a missing table is a non-retryable SourceError naming it', async () => {
    const err = await reader.describe('events.no_such_table').catch((e) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect(err.message).toMatch(/^describing events\.no_such_table in Snowflake account fakesnow as dwh_test \(role DWH_IMPORT_READER\): 002003 \(42S02\): .*NO_SUCH_TABLE/);
  });
});

describe('keyset pages', () => {
  let cols: SourceColumn[];
  const col = (n: string) => cols.find((c) => c.name === n)!;
  beforeAll(async () => {
    cols = await reader.describe('orders');
  });

  async function readAll(limit: number, tieBreaker: boolean) {
    const pages: string[][] = [];
    let after: Cursor | null = null;
    for (let guard = 0; guard < 50; guard++) {
      const req = { table: 'orders', columns: cols, change: col('UPDATED_AT'), tieBreaker: tieBreaker ? col('ORDER_ID') : undefined, after, until: '2026-01-05T10:00:00.123456000', limit };
      const page = await reader.readPage(req);
      pages.push(page.rows.map((r) => String(r[0])));
      if (page.rows.length < limit) return pages;
      after = cursorOf(page.rows[page.rows.length - 1], 3, tieBreaker ? 0 : undefined);
    }
    throw new Error('too many pages');
  }

  it('keyed by NUMBER(38,0) ids past 2^53: every row once, in cursor order, the equal-timestamp group split exactly', async () => {
    const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(BIG + BigInt(from + i)));
    const pages = await readAll(3, true);
    // change order: +0 (09:00), +1 (09:01), +6..+8 (09:06..09:08), then the group +2..+5 at 10:00:00.123456
    expect(pages.flat()).toEqual([...ids(0, 1), ...ids(6, 8), ...ids(2, 5)]);
    expect(pages).toEqual([[...ids(0, 1), ids(6, 6)[0]], ids(7, 8).concat(ids(2, 2)), ids(3, 5), []]);
  });

  it('without a tie-break key a page grows to finish a group of equal change timestamps', async () => {
    const pages = await readAll(6, false);
    // the first page of 6 ends inside the group of 4 equal timestamps, so it takes the whole group
    expect(pages.map((p) => p.length)).toEqual([9, 0]);
  });

  it('change timestamps are bounded by until, inclusive, compared at full precision', async () => {
    const req = { table: 'orders', columns: cols, change: col('UPDATED_AT'), tieBreaker: col('ORDER_ID'), after: null, until: '2026-01-05T10:00:00.123455000', limit: 100 };
    expect((await reader.readPage(req)).rows).toHaveLength(5);
    expect((await reader.readPage({ ...req, until: '2026-01-05T10:00:00.123456000' })).rows).toHaveLength(9);
  });

  it('values are exact: big integers, decimals, VARIANT text, NTZ wall clock, TZ instant in UTC, dates, booleans', async () => {
    const page = await reader.readPage({ table: 'orders', columns: cols, change: col('UPDATED_AT'), tieBreaker: col('ORDER_ID'), after: null, until: '2026-01-05T09:00:00.000000', limit: 10 });
    expect(page.rows).toEqual([
      ['9007199254740993', 'user0@example.org', '0.05', '2026-01-05T09:00:00.000000000', '2026-01-01', '2026-01-05T08:00:00.000000000Z', '{"n":123456789012345678901}', true],
    ]);
  });

  it('rows with a NULL change timestamp are counted and sampled', async () => {
    const r = await reader.readNullChange({ table: 'orders', columns: cols, change: col('UPDATED_AT'), limit: 1 });
    expect(r.total).toBe(2);
    expect(r.page.rows).toHaveLength(1);
    expect(['null-change@example.org', 'null-change2@example.org']).toContain(r.page.rows[0][1]);
    // NULLs of every type are null, never the driver's "NULL" text for numbers fetched as strings
    expect(r.page.rows[0].slice(2)).toEqual([null, null, null, null, null, null]);
  });

  it('a column that no longer exists is a non-retryable SourceError', async () => {
    const gone = { name: 'DROPPED', kind: 'text' as const, sqlType: 'VARCHAR' };
    const err = await reader.readPage({ table: 'orders', columns: [gone], change: col('UPDATED_AT'), after: null, until: '2026-01-06T00:00:00.000000', limit: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect(err.message).toMatch(/^reading orders in Snowflake account fakesnow .*: 002043 \(02000\): .*"DROPPED" not found/);
  });
});

describe('authentication and failures', () => {
  it('a wrong password is a non-retryable SourceError that never shows the password', async () => {
    await registerUser(server.url, 'PW_USER', { password: 'the-right-one' });
    process.env.DWH_TEST_WRONG_PW = 'not-the-right-one';
    const err = await openSnowflakeReader(testConnection(server.url, { user: 'pw_user', auth: { password_env: 'DWH_TEST_WRONG_PW' } })).catch((e) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect(err.message).toBe(
      'connecting to Snowflake account fakesnow as pw_user (role DWH_IMPORT_READER): Snowflake refused the login (390100: Incorrect username or password was specified). ' +
        "Check user, role, and the password or key named in the connection file's auth section",
    );
    process.env.DWH_TEST_RIGHT_PW = 'the-right-one';
    const ok = await openSnowflakeReader(testConnection(server.url, { user: 'pw_user', database: db, schema: 'EVENTS', auth: { password_env: 'DWH_TEST_RIGHT_PW' } }));
    expect((await ok.describe('orders')).length).toBe(8);
    await ok.close();
  });

  it('key-pair authentication with an encrypted PKCS#8 key file, from a YAML connection file', async () => {
    const dir = tempDir();
    const pair = () =>
      generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'key pass' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      });
    const registered = pair();
    const other = pair();
    await registerUser(server.url, 'KEY_USER', { publicKey: registered.publicKey });
    writeFileSync(join(dir, 'rsa_key.p8'), registered.privateKey);
    writeFileSync(join(dir, 'other_key.p8'), other.privateKey);
    process.env.DWH_TEST_KEY_PASS = 'key pass';
    const file = join(dir, 'connection.yaml');
    const yaml = (key: string) =>
      [
        'type: snowflake',
        'account: fakesnow',
        'user: key_user',
        'role: DWH_IMPORT_READER',
        'warehouse: IMPORT_WH',
        `database: ${db}`,
        'schema: EVENTS',
        `access_url: ${server.url}`,
        'auth:',
        `  private_key_file: ${join(dir, key)}`,
        '  private_key_passphrase_env: DWH_TEST_KEY_PASS',
        '',
      ].join('\n');
    writeFileSync(file, yaml('rsa_key.p8'));
    const r = await openReader(loadConnectionFile(file));
    expect(r.dialect).toBe('snowflake');
    expect((await r.describe('orders'))[0]).toEqual({ name: 'ORDER_ID', kind: 'integer', sqlType: 'NUMBER(38,0)' });
    await r.close();

    writeFileSync(file, yaml('other_key.p8'));
    const err = await openReader(loadConnectionFile(file)).catch((e) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect(err.message).toMatch(/refused the login \(390144: JWT token is invalid\)/);
  });

  it('a suspended warehouse is retryable, and the next attempt succeeds', async () => {
    await registerUser(server.url, 'WH_USER', { password: 'pw' });
    process.env.DWH_TEST_WH_PW = 'pw';
    const r = await openSnowflakeReader(testConnection(server.url, { user: 'wh_user', database: db, schema: 'EVENTS', auth: { password_env: 'DWH_TEST_WH_PW' } }));
    await injectFault(server.url, 'WH_USER', { code: '000606', sqlState: '57P03', message: "Warehouse 'IMPORT_WH' is suspended. Use 'alter warehouse IMPORT_WH resume;' command if you need to use it again." });
    const err = await r.describe('orders').catch((e) => e);
    expect(err).toBeInstanceOf(SnowflakeUnavailableError);
    expect(err).not.toBeInstanceOf(SourceError);
    expect(err.message).toMatch(/the warehouse is not available \(000606 \(57P03\): Warehouse 'IMPORT_WH' is suspended/);
    expect((await r.describe('orders')).length).toBe(8);
    await r.close();
  });

  it("a closed reader's session is reused by the next reader of the same connection, never after a failure", async () => {
    await registerUser(server.url, 'REUSE_USER', { password: 'pw' });
    process.env.DWH_TEST_REUSE_PW = 'pw';
    const conn = testConnection(server.url, { user: 'reuse_user', database: db, schema: 'EVENTS', auth: { password_env: 'DWH_TEST_REUSE_PW' } });
    for (let i = 0; i < 3; i++) {
      const r = await openSnowflakeReader(conn);
      expect((await r.describe('orders')).length).toBe(8);
      await r.close();
    }
    expect(await loginCount(server.url, 'reuse_user')).toBe(1);
    // every session pins what the reader relies on, whatever the account's defaults
    expect(await sessionParameters(server.url, 'reuse_user')).toEqual({
      TIMEZONE: 'UTC',
      TIMESTAMP_INPUT_FORMAT: 'AUTO',
      DATE_INPUT_FORMAT: 'AUTO',
      TIME_OUTPUT_FORMAT: 'HH24:MI:SS.FF9',
      STRICT_JSON_OUTPUT: 'TRUE',
      QUERY_TAG: 'dwh-import',
    });
    // a failed statement: the session is logged out, the next reader logs in anew
    const r = await openSnowflakeReader(conn);
    await expect(r.describe('no_such_table')).rejects.toBeInstanceOf(SourceError);
    await r.close();
    const again = await openSnowflakeReader(conn);
    await again.close();
    expect(await loginCount(server.url, 'reuse_user')).toBe(2);
    // a different connection config never shares a session
    const other = await openSnowflakeReader({ ...conn, schema: 'PUBLIC' });
    await other.close();
    expect(await loginCount(server.url, 'reuse_user')).toBe(3);
    // worker shutdown logs idle sessions out
    await closeIdleSnowflakeSessions();
    await (await openSnowflakeReader(conn)).close();
    expect(await loginCount(server.url, 'reuse_user')).toBe(4);
  });

  it('an unreachable server is a retryable network error', async () => {
    const err = await openSnowflakeReader(testConnection('http://127.0.0.1:9')).catch((e) => e);
    expect(err).toBeInstanceOf(SnowflakeUnavailableError);
    expect(err.message).toMatch(/^connecting to Snowflake account fakesnow as dwh_test \(role DWH_IMPORT_READER\): network error \(.*ECONNREFUSED/);
  });
});

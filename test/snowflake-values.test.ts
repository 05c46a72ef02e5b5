/**
 * Snowflake value conversion for what fakesnow cannot show: TIMESTAMP_LTZ, TIMESTAMP_TZ with offsets,
 * non-UTC session time zones, nanoseconds, negative epochs, big numbers. Each case feeds the raw text
 * Snowflake sends in a JSON rowset through the real driver's own column decoder (snowflake-sdk's
 * `Column`, as its row stream does) and then through the reader's conversion, so only the wire is
 * synthetic. Plus the dialect's quoting and casts, secret handling and error classification.
 */
import { createRequire } from 'node:module';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  classifySnowflakeError,
  snowflakeColumn,
  snowflakeConnectionOptions,
  snowflakeDialect,
  SnowflakeUnavailableError,
  type SnowflakeColumnMeta,
} from '../activities/warehouse/snowflake.ts';
import { SourceError } from '../activities/warehouse/types.ts';
import { ConfigError, loadConnectionFile } from '../config/load.ts';
import { pageBoundsQuery, pageQuery } from '../incremental/sql.ts';
import { tempDir } from './helpers/duckdb.ts';
import { testConnection } from './helpers/snowflake.ts';

const require = createRequire(import.meta.url);
// The driver's own decoder of JSON rowset cells (internal module: no public entry point decodes one value).
const Column = require('snowflake-sdk/dist/lib/connection/result/column.js');

/** Session parameters as Snowflake sends them, with a session TIMEZONE far from UTC. */
function params(timezone: string) {
  return {
    TIMEZONE: timezone,
    TIMESTAMP_OUTPUT_FORMAT: 'YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM',
    TIMESTAMP_NTZ_OUTPUT_FORMAT: 'YYYY-MM-DD HH24:MI:SS.FF3',
    DATE_OUTPUT_FORMAT: 'YYYY-MM-DD',
    TIME_OUTPUT_FORMAT: 'HH24:MI:SS',
    BINARY_OUTPUT_FORMAT: 'HEX',
  };
}

const AS_STRING = new Set(['NUMBER', 'JSON', 'OBJECT', 'ARRAY']);
const NATIVE: Record<string, string> = { fixed: 'NUMBER', real: 'NUMBER', variant: 'JSON', object: 'OBJECT', array: 'ARRAY' };

/** Decodes one wire cell as the reader receives it (fetchAsString for numbers and semi-structured), then converts it. */
function read(meta: SnowflakeColumnMeta & { nullable?: boolean }, raw: string, timezone = 'America/Los_Angeles', extra: Record<string, string> = {}) {
  const column = new Column({
    columnMetadata: { nullable: true, ...meta },
    index: 0,
    statementParameters: { ...params(timezone), ...extra },
    resultVersion: '1',
    onPrecisionLoss: () => {},
    onNonJsonCompliantVariant: () => {},
  });
  const row = { values: [raw], _arrayProcessedColumns: [] as boolean[] };
  const driverValue = AS_STRING.has(NATIVE[meta.type] ?? '') ? column._getRowValueAsString(row) : column._getRowValue(row);
  const c = snowflakeColumn(meta);
  return { kind: c.kind, sqlType: c.sqlType, value: c.convert(driverValue) };
}

describe('Snowflake timestamps become zone-independent canonical literals', () => {
  it('TIMESTAMP_LTZ is the instant in UTC, whatever the session TIMEZONE', () => {
    // 2026-01-05T10:00:00.123456789Z
    for (const tz of ['America/Los_Angeles', 'Asia/Kolkata', 'UTC', 'Pacific/Chatham']) {
      expect(read({ name: 'T', type: 'timestamp_ltz', scale: 9, precision: 0 }, '1767607200.123456789', tz)).toEqual({
        kind: 'timestamp_tz',
        sqlType: 'TIMESTAMP_LTZ(9)',
        value: '2026-01-05T10:00:00.123456789Z',
      });
    }
  });

  it('TIMESTAMP_TZ is its instant in UTC, not the wall clock of its offset', () => {
    // 2026-01-05T10:00:00.5 at +05:30 = 04:30:00.5Z; offset index = 330 + 1440
    expect(read({ name: 'T', type: 'timestamp_tz', scale: 9 }, '1767587400.500000000 1770').value).toBe('2026-01-05T04:30:00.500000000Z');
    // at -08:00 (index 960)
    expect(read({ name: 'T', type: 'timestamp_tz', scale: 3 }, '1767636000.250 960').value).toBe('2026-01-05T18:00:00.250000Z');
  });

  it('TIMESTAMP_NTZ keeps its wall clock (the mapper applies the sync zone), never shifted by the session TIMEZONE', () => {
    expect(read({ name: 'T', type: 'timestamp_ntz', scale: 9 }, '1767607200.123456789', 'Asia/Tokyo')).toEqual({
      kind: 'timestamp_ntz',
      sqlType: 'TIMESTAMP_NTZ(9)',
      value: '2026-01-05T10:00:00.123456789',
    });
    // scale 6 and below: microsecond literals, as DuckDB's
    expect(read({ name: 'T', type: 'timestamp_ntz', scale: 6 }, '1767607200.123456', 'Asia/Tokyo').value).toBe('2026-01-05T10:00:00.123456');
    expect(read({ name: 'T', type: 'timestamp_ntz', scale: 0 }, '1767607200', 'Asia/Tokyo').value).toBe('2026-01-05T10:00:00.000000');
  });

  it('negative epochs (before 1970) keep a positive fraction', () => {
    // 1969-12-31T23:59:59.250 = -0.75 s
    expect(read({ name: 'T', type: 'timestamp_ntz', scale: 9 }, '-0.750000000').value).toBe('1969-12-31T23:59:59.250000000');
  });

  it('DATE is the calendar day, whatever the session TIMEZONE', () => {
    expect(read({ name: 'D', type: 'date' }, '20458', 'Pacific/Honolulu')).toEqual({ kind: 'date', sqlType: 'DATE', value: '2026-01-05' });
    expect(read({ name: 'D', type: 'date' }, '-1', 'Asia/Tokyo').value).toBe('1969-12-31');
  });

  it('literals sort as the values do, so cursor comparison by string is exact', () => {
    const a = read({ name: 'T', type: 'timestamp_ntz', scale: 9 }, '1767607200.000000001').value as string;
    const b = read({ name: 'T', type: 'timestamp_ntz', scale: 9 }, '1767607200.000000010').value as string;
    const c = read({ name: 'T', type: 'timestamp_ntz', scale: 9 }, '1767607200.100000000').value as string;
    expect([c, b, a].sort()).toEqual([a, b, c]);
    expect(a).not.toBe(b);
  });
});

describe('Snowflake numbers, semi-structured and other values are exact', () => {
  it('NUMBER(38,0) is a number when safe, else the exact digit string', () => {
    expect(read({ name: 'N', type: 'fixed', precision: 38, scale: 0 }, '9007199254740991')).toEqual({ kind: 'integer', sqlType: 'NUMBER(38,0)', value: 9007199254740991 });
    expect(read({ name: 'N', type: 'fixed', precision: 38, scale: 0 }, '9007199254740993').value).toBe('9007199254740993');
    expect(read({ name: 'N', type: 'fixed', precision: 38, scale: 0 }, '-99999999999999999999999999999999999999').value).toBe('-99999999999999999999999999999999999999');
  });

  it('NUMBER(p,s>0) is the exact decimal text', () => {
    expect(read({ name: 'A', type: 'fixed', precision: 38, scale: 2 }, '12345678901234567890123456789012345.67')).toEqual({
      kind: 'decimal',
      sqlType: 'NUMBER(38,2)',
      value: '12345678901234567890123456789012345.67',
    });
    expect(read({ name: 'A', type: 'fixed', precision: 12, scale: 2 }, '19.90').value).toBe('19.90');
  });

  it('a NULL number fetched as text is NULL, never the string "NULL"', () => {
    // the driver's toString of a NULL number is "NULL" while its process-wide representNullAsStringNull is on
    const dataTypes = require('snowflake-sdk/dist/lib/connection/result/data_types.js');
    dataTypes.setIsRepresentNullAsStringNull(true);
    try {
      expect(read({ name: 'N', type: 'fixed', precision: 38, scale: 0 }, null as unknown as string).value).toBeNull();
      expect(read({ name: 'A', type: 'fixed', precision: 12, scale: 2 }, null as unknown as string).value).toBeNull();
      expect(read({ name: 'F', type: 'real' }, null as unknown as string).value).toBeNull();
    } finally {
      dataTypes.setIsRepresentNullAsStringNull(false);
    }
  });

  it('FLOAT is a number, including Snowflake special values', () => {
    expect(read({ name: 'F', type: 'real' }, '1.5')).toEqual({ kind: 'float', sqlType: 'FLOAT', value: 1.5 });
    expect(read({ name: 'F', type: 'real' }, '-1.25e-7').value).toBe(-1.25e-7);
    expect(read({ name: 'F', type: 'real' }, 'inf').value).toBe(Infinity);
    expect(Number.isNaN(read({ name: 'F', type: 'real' }, 'NaN').value)).toBe(true);
  });

  it('VARIANT, OBJECT and ARRAY are the JSON text, big integers inside untouched', () => {
    const text = '{\n  "big": 12345678901234567890,\n  "nested": {"x": [1, 2.50]}\n}';
    expect(read({ name: 'V', type: 'variant' }, text)).toEqual({ kind: 'json', sqlType: 'VARIANT', value: text });
    expect(read({ name: 'O', type: 'object' }, '{"id": 12345678901234567890}')).toEqual({ kind: 'json', sqlType: 'OBJECT', value: '{"id": 12345678901234567890}' });
    expect(read({ name: 'A', type: 'array' }, '[12345678901234567890, "x"]').value).toBe('[12345678901234567890, "x"]');
  });

  it('BOOLEAN, BINARY, TEXT and TIME', () => {
    expect(read({ name: 'B', type: 'boolean' }, '1')).toEqual({ kind: 'boolean', sqlType: 'BOOLEAN', value: true });
    expect(read({ name: 'B', type: 'boolean' }, '0').value).toBe(false);
    expect(read({ name: 'X', type: 'binary' }, 'CAFE01')).toEqual({ kind: 'binary', sqlType: 'BINARY', value: 'cafe01' });
    expect(read({ name: 'S', type: 'text' }, ' Ann ')).toEqual({ kind: 'text', sqlType: 'VARCHAR', value: ' Ann ' });
    expect(read({ name: 'T', type: 'time', scale: 9 }, '36672.500000000', 'UTC', { TIME_OUTPUT_FORMAT: 'HH24:MI:SS.FF9' })).toEqual({
      kind: 'time',
      sqlType: 'TIME(9)',
      value: '10:11:12.500000000',
    });
  });
});

describe('Snowflake SQL dialect', () => {
  it('quotes columns exactly and upper-cases unquoted table parts as Snowflake resolves them', () => {
    expect(snowflakeDialect.quoteIdent('customerId')).toBe('"customerId"');
    expect(snowflakeDialect.quoteIdent('ORDER_ID')).toBe('"ORDER_ID"');
    expect(snowflakeDialect.quoteIdent('we"ird')).toBe('"we""ird"');
    expect(snowflakeDialect.quoteTable('analytics.events.orders')).toBe('"ANALYTICS"."EVENTS"."ORDERS"');
    expect(snowflakeDialect.quoteTable('events."Orders 2024"')).toBe('"EVENTS"."Orders 2024"');
    expect(() => snowflakeDialect.quoteTable('a.b.c.d')).toThrow(/must be table, schema.table or database.schema.table/);
  });

  it('binds every value as a string cast explicitly; timestamps at full precision', () => {
    const cols = [
      { name: 'ID', kind: 'integer' as const, sqlType: 'NUMBER(38,0)' },
      { name: 'UPDATED_AT', kind: 'timestamp_ntz' as const, sqlType: 'TIMESTAMP_NTZ(3)' },
    ];
    const req = {
      table: 'events.orders',
      columns: cols,
      change: cols[1],
      tieBreaker: cols[0],
      after: { ts: '2026-01-05T10:00:00.123000000', key: '9007199254740993' },
      until: '2026-01-06T00:00:00.000000',
      limit: 500,
    };
    const q = pageQuery(snowflakeDialect, req);
    expect(q.sql).toBe(
      'SELECT "ID", "UPDATED_AT" FROM "EVENTS"."ORDERS" WHERE "UPDATED_AT" IS NOT NULL AND "UPDATED_AT" <= CAST(? AS TIMESTAMP_NTZ(9)) AND ' +
        '"UPDATED_AT" >= CAST(? AS TIMESTAMP_NTZ(9)) AND ("UPDATED_AT" > CAST(? AS TIMESTAMP_NTZ(9)) OR "ID" > CAST(? AS NUMBER(38,0))) ' +
        'ORDER BY "UPDATED_AT", "ID" NULLS FIRST LIMIT 500',
    );
    expect(q.params).toEqual(['2026-01-06T00:00:00.000000', '2026-01-05T10:00:00.123000000', '2026-01-05T10:00:00.123000000', '9007199254740993']);
    // The bounds step of a page resuming inside a group reads the rest of the group by a plain key range.
    const b = pageBoundsQuery(snowflakeDialect, req);
    expect(b.sql).toContain(
      'WHERE "UPDATED_AT" IS NOT NULL AND "UPDATED_AT" <= CAST(? AS TIMESTAMP_NTZ(9)) AND "UPDATED_AT" = CAST(? AS TIMESTAMP_NTZ(9)) AND "ID" > CAST(? AS NUMBER(38,0)) ORDER BY "ID" LIMIT 500',
    );
    expect(b.sql).toContain('"UPDATED_AT" > CAST(? AS TIMESTAMP_NTZ(9)) ORDER BY "UPDATED_AT", "ID" NULLS FIRST LIMIT 500');
    expect(b.params).toEqual([
      '2026-01-06T00:00:00.000000', '2026-01-05T10:00:00.123000000', '9007199254740993',
      '2026-01-06T00:00:00.000000', '2026-01-05T10:00:00.123000000',
    ]);
    // Without a key to resume after (first page, or after a NULL key) the single keyset query is kept.
    expect(pageBoundsQuery(snowflakeDialect, { ...req, after: null }).sql).not.toContain('UNION ALL');
    expect(snowflakeDialect.param('TIMESTAMP_LTZ(0)')).toBe('CAST(? AS TIMESTAMP_LTZ(9))');
    expect(snowflakeDialect.param('TIMESTAMP_TZ(9)')).toBe('CAST(? AS TIMESTAMP_TZ(9))');
    expect(snowflakeDialect.param('VARCHAR')).toBe('CAST(? AS VARCHAR)');
  });
});

describe('Snowflake connection secrets', () => {
  const url = 'http://127.0.0.1:1';

  it('reads the password from the named variable, and says which variable is missing without a value', () => {
    const opts = snowflakeConnectionOptions(testConnection(url, { auth: { password_env: 'SF_PW' } }), { SF_PW: 's3cret!' });
    expect(opts).toMatchObject({ account: 'fakesnow', username: 'dwh_test', password: 's3cret!', accessUrl: url, role: 'DWH_IMPORT_READER', warehouse: 'IMPORT_WH' });
    expect(() => snowflakeConnectionOptions(testConnection(url, { auth: { password_env: 'SF_PW' } }), {})).toThrow(
      new SourceError('environment variable SF_PW (auth.password_env) is not set on this worker'),
    );
  });

  it('decrypts an encrypted key file with the passphrase variable; a wrong passphrase is named, never shown', () => {
    const dir = tempDir();
    const { privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const file = join(dir, 'rsa_key.p8');
    writeFileSync(file, privateKey);
    const conn = testConnection(url, { auth: { private_key_file: file, private_key_passphrase_env: 'SF_KEY_PASS' } });
    const opts = snowflakeConnectionOptions(conn, { SF_KEY_PASS: 'correct horse' });
    expect(opts.authenticator).toBe('SNOWFLAKE_JWT');
    expect(opts.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(opts.password).toBeUndefined();

    let err: Error | undefined;
    try {
      snowflakeConnectionOptions(conn, { SF_KEY_PASS: 'wrong horse' });
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(SourceError);
    expect(err!.message).toBe(`cannot use the Snowflake private key file ${file}: wrong passphrase in SF_KEY_PASS`);
    expect(err!.message).not.toContain('horse');
    expect(() => snowflakeConnectionOptions(testConnection(url, { auth: { private_key_file: file } }), {})).toThrow(/the key is encrypted: name the variable/);
    expect(() => snowflakeConnectionOptions(testConnection(url, { auth: { private_key_file: join(dir, 'missing.p8') } }), {})).toThrow(
      /cannot read the Snowflake private key file .*missing\.p8 \(auth\.private_key_file\): ENOENT/,
    );
  });
});

describe('Snowflake connection file', () => {
  const load = (yaml: string) => {
    const file = join(tempDir(), 'connection.yaml');
    writeFileSync(file, yaml);
    try {
      return loadConnectionFile(file);
    } catch (e) {
      return e as ConfigError;
    }
  };
  const base = 'type: snowflake\naccount: myorg-analytics\nuser: DWH_IMPORT\nrole: READER\nwarehouse: IMPORT_WH\n';

  it('accepts key-pair or password authentication', () => {
    expect(load(`${base}auth:\n  private_key_file: /run/secrets/k.p8\n  private_key_passphrase_env: KEY_PASS\n`)).toMatchObject({ type: 'snowflake', auth: { private_key_file: '/run/secrets/k.p8' } });
    expect(load(`${base}auth:\n  password_env: SNOWFLAKE_PASSWORD\n`)).toMatchObject({ auth: { password_env: 'SNOWFLAKE_PASSWORD' } });
  });

  it('rejects both or neither, and a secret written in place of a variable name, at their lines', () => {
    const both = load(`${base}auth:\n  password_env: SNOWFLAKE_PASSWORD\n  private_key_file: /k.p8\n`);
    expect(both).toBeInstanceOf(ConfigError);
    expect((both as ConfigError).problems).toContainEqual(expect.objectContaining({ line: 8, message: 'auth: give either password_env or private_key_file, not both' }));
    const neither = load(`${base}auth: {}\n`);
    expect((neither as ConfigError).problems).toContainEqual(
      expect.objectContaining({ line: 6, message: 'auth needs password_env (an environment variable holding the password) or private_key_file (key-pair authentication)' }),
    );
    const secret = load(`${base}auth:\n  password_env: hunter2!\n`);
    expect((secret as ConfigError).problems).toContainEqual(expect.objectContaining({ line: 7, message: expect.stringMatching(/^auth\.password_env is not valid: the name of an environment variable/) }));
    expect((secret as ConfigError).message).not.toContain('hunter2');
  });
});

describe('Snowflake failures are classified', () => {
  const what = 'reading EVENTS.ORDERS';
  const cases: [string, Record<string, unknown>, 'source' | 'retry', RegExp][] = [
    ['wrong password', { name: 'OperationFailedError', code: '390100', message: 'Incorrect username or password was specified.' }, 'source', /refused the login/],
    ['bad JWT', { name: 'OperationFailedError', code: 390144, message: 'JWT token is invalid.' }, 'source', /390144/],
    ['missing table', { name: 'OperationFailedError', code: '002003', sqlState: '42S02', message: "SQL compilation error:\nObject 'EVENTS.ORDERS' does not exist or not authorized." }, 'source', /does not exist or not authorized\. Check the table/],
    ['missing column', { name: 'OperationFailedError', code: '000904', sqlState: '42000', message: "SQL compilation error: error line 1 at position 7\ninvalid identifier 'UPDATED_AT'" }, 'source', /000904 \(42000\)/],
    ['suspended warehouse', { name: 'OperationFailedError', code: '000606', sqlState: '57P03', message: 'No active warehouse selected in the current session.' }, 'retry', /warehouse is not available/],
    ['statement timeout', { name: 'OperationFailedError', code: '000630', sqlState: '57014', message: 'Statement reached its statement or warehouse timeout of 600 second(s) and was canceled.' }, 'retry', /will retry/],
    ['network', { name: 'NetworkError', code: 401001, message: 'connect ECONNRESET', cause: { code: 'ECONNRESET' } }, 'retry', /network error/],
    ['HTTP 503', { name: 'RequestFailedError', code: 401002, message: 'Request to Snowflake failed.' }, 'retry', /network error/],
    ['expired session', { name: 'OperationFailedError', code: '390114', message: 'Authentication token has expired.' }, 'retry', /session expired/],
  ];
  for (const [label, err, expected, message] of cases) {
    it(`${label} -> ${expected === 'source' ? 'non-retryable SourceError' : 'retryable'}`, () => {
      const c = classifySnowflakeError(Object.assign(new Error(String(err.message)), err), what);
      expect(c).toBeInstanceOf(expected === 'source' ? SourceError : SnowflakeUnavailableError);
      expect(c.message.startsWith(`${what}: `)).toBe(true);
      expect(c.message).toMatch(message);
      expect(c.message).not.toContain('\n');
    });
  }
});

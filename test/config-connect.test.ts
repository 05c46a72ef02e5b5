/**
 * `validate --connect` against a real DuckDB file: the table exists, mapped columns exist (did you
 * mean), their types fit their fields, `___` property paths do not collide, and the report lists
 * what becomes a property.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SourceColumn } from '../activities/warehouse/types.ts';
import { checkSyncColumns } from '../config/columns-check.ts';
import { checkSyncText } from '../config/load.ts';
import { formatProblem } from '../config/problems.ts';
import { validateConfig } from '../config/validate.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';

const dir = tempDir('dwh-import-connect-');
const db = join(dir, 'wh.duckdb');
const conn = join(dir, 'connection.yaml');

function sync(file: string, text: string): string {
  const p = join(dir, file);
  writeFileSync(p, text);
  return p;
}

beforeAll(async () => {
  writeFileSync(conn, `type: duckdb\npath: wh.duckdb\n`);
  await duckdbExec(
    db,
    'CREATE SCHEMA ev',
    `CREATE TABLE ev.orders (order_id VARCHAR, email VARCHAR, "CustomerId" BIGINT, ordered_at TIMESTAMP, updated_at TIMESTAMPTZ,
       total DECIMAL(12, 2), currency VARCHAR, sku VARCHAR, ship___city VARCHAR, ship___geo___lat DOUBLE)`,
    `CREATE TABLE ev.messy (id INTEGER, email INTEGER, phone BIGINT, day DATE, changed VARCHAR, amount VARCHAR, kid BIGINT,
       "ship" VARCHAR, "ship___city" VARCHAR, "a___b" VARCHAR, "a___b___c" VARCHAR, "___x" VARCHAR, flags BOOLEAN)`,
  );
});

describe('validate --connect', () => {
  it('a fitting table: no problem, and the report lists fields and properties', async () => {
    const file = sync(
      'good.yaml',
      `name: good\nsource: {table: ev.orders}\nmetric: {name: Placed Order}\nmapping:\n  event_timestamp: ordered_at\n  change_timestamp: updated_at\n  unique_id: order_id\n  value: total\n  value_currency: currency\n  profile:\n    email: email\n    external_id: customerid\n`,
    );
    const r = await validateConfig({ paths: [file], connectionFile: conn, connect: true });
    expect(r.problems.map(formatProblem)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.connected).toBe(true);
    expect(r.syncs).toHaveLength(1);
    const c = r.syncs[0].columns!;
    expect(c.columnCount).toBe(10);
    expect(c.fields.map((f) => `${f.field}=${f.column}:${f.kind}`)).toEqual([
      'mapping.event_timestamp=ordered_at:timestamp_ntz',
      'mapping.change_timestamp=updated_at:timestamp_tz',
      'mapping.profile.email=email:text',
      'mapping.profile.external_id=CustomerId:integer',
      'mapping.unique_id=order_id:text',
      'mapping.value=total:decimal',
      'mapping.value_currency=currency:text',
    ]);
    expect(c.properties).toEqual([
      { column: 'sku', path: ['sku'], sqlType: 'VARCHAR' },
      { column: 'ship___city', path: ['ship', 'city'], sqlType: 'VARCHAR' },
      { column: 'ship___geo___lat', path: ['ship', 'geo', 'lat'], sqlType: 'DOUBLE' },
    ]);
  });

  it('a missing table, a missing column with a suggestion, and types that do not fit', async () => {
    const missing = sync('missing.yaml', `name: missing\nsource: {table: ev.nope}\nmetric: {name: M}\nmapping: {event_timestamp: a, change_timestamp: b, profile: {email: c}}\n`);
    const messy = sync(
      'messy.yaml',
      `name: messy
source:
  table: ev.messy
metric:
  column: flags
mapping:
  event_timestamp: day
  change_timestamp: changed
  unique_id: id
  value: amount
  profile:
    email: email
    phone_number: phone
    klaviyo_id: kid
    external_id: customer
`,
    );
    const r = await validateConfig({ paths: [missing, messy], connectionFile: conn, connect: true });
    expect(r.problems.map(formatProblem)).toEqual([
      `${missing}:2:17: source.table: table or view ev.nope cannot be read: Catalog Error: Table with name nope does not exist!`,
      `${messy}:3:10: property columns of ev.messy collide: "ship" is the property ship while "ship___city" nests ship.city inside it; one would overwrite the other. Rename one of them in the table or view`,
      `${messy}:3:10: property columns of ev.messy collide: "a___b" is the property a.b while "a___b___c" nests a.b.c inside it; one would overwrite the other. Rename one of them in the table or view`,
      `${messy}:3:10: warning: property column "___x" of ev.messy has an empty key in its path ("".x): "___" separates keys, so it must not start or end the name or appear twice in a row`,
      `${messy}:5:11: metric.column: column "flags" has type BOOLEAN; metric.column needs a text column holding metric names`,
      `${messy}:7:20: warning: mapping.event_timestamp: column "day" is a DATE: every event gets midnight in UTC as its time (date-triggered flows may fire a day off); map a timestamp column if there is one`,
      `${messy}:8:21: mapping.change_timestamp: column "changed" has type VARCHAR; mapping.change_timestamp needs a TIMESTAMP, TIMESTAMP_TZ or DATE column (incremental reads compare it)`,
      `${messy}:10:10: warning: mapping.value: column "amount" is text (VARCHAR): numeric text is read exactly, rows with other text are rejected`,
      `${messy}:12:12: mapping.profile.email: column "email" has type INTEGER; mapping.profile.email needs a text column`,
      `${messy}:13:19: warning: mapping.profile.phone_number: column "phone" is a number (BIGINT): a leading + or 0 is lost, so numbers are read in region US; a text column is safer`,
      `${messy}:14:17: mapping.profile.klaviyo_id: column "kid" has type BIGINT; mapping.profile.klaviyo_id needs a text column (Klaviyo profile ids look like 01GDDKASAP8TKDDA2GRZDSVP4H)`,
      `${messy}:15:18: mapping.profile.external_id: column "customer" does not exist in ev.messy`,
    ]);
    expect(r.ok).toBe(false);
    expect(r.errors).toBe(8);
    expect(r.warnings).toBe(4);
  });

  it('a name that matches two columns differing only in case is ambiguous (Snowflake allows both)', () => {
    // DuckDB folds identifiers, so the columns are given as Snowflake describes quoted names.
    const text = `name: cased\nsource: {table: EV.CASED}\nmetric: {name: M}\nmapping: {event_timestamp: T, change_timestamp: U, profile: {email: email}}\n`;
    const c = checkSyncText('cased.yaml', text);
    const columns: SourceColumn[] = [
      { name: 'Email', kind: 'text', sqlType: 'VARCHAR' },
      { name: 'EMAIL', kind: 'text', sqlType: 'VARCHAR' },
      { name: 'T', kind: 'timestamp_ntz', sqlType: 'TIMESTAMP_NTZ(9)' },
      { name: 'U', kind: 'timestamp_ntz', sqlType: 'TIMESTAMP_NTZ(9)' },
    ];
    const r = checkSyncColumns(c.config!, c.source!, columns);
    expect(r.problems.map(formatProblem)).toEqual([
      'cased.yaml:4:69: mapping.profile.email: column "email" matches "Email" and "EMAIL" of EV.CASED, which differ only in case: write the exact name',
    ]);
    expect(r.report).toBeUndefined();
  });

  it('names resolve exactly first, then case-insensitively; a near miss gets a suggestion', async () => {
    const file = sync('near.yaml', `name: near\nsource: {table: ev.orders}\nmetric: {name: M}\nmapping: {event_timestamp: orderd_at, change_timestamp: UPDATED_AT, profile: {email: EMAIL}}\n`);
    const r = await validateConfig({ paths: [file], connectionFile: conn, connect: true });
    expect(r.problems.map(formatProblem)).toEqual([`${file}:4:28: mapping.event_timestamp: column "orderd_at" does not exist in ev.orders; did you mean "ordered_at"?`]);
  });

  it('without --connect nothing is opened; a missing DuckDB file or a bad connection is a problem of the connection file', async () => {
    const file = sync('offline.yaml', `name: offline\nsource: {table: ev.nope}\nmetric: {name: M}\nmapping: {event_timestamp: a, change_timestamp: b, profile: {email: c}}\n`);
    const offline = await validateConfig({ paths: [file], connectionFile: conn });
    expect(offline.problems).toEqual([]);
    expect(offline.connected).toBe(false);
    const gone = join(dir, 'gone.yaml');
    writeFileSync(gone, 'type: duckdb\npath: nowhere.duckdb\n');
    const r = await validateConfig({ paths: [file], connectionFile: gone, connect: true });
    expect(r.problems.map(formatProblem)).toEqual([`${gone}:2:7: the DuckDB database ${join(dir, 'nowhere.duckdb')} does not exist`]);
    const sf = join(dir, 'sf.yaml');
    writeFileSync(sf, 'type: snowflake\naccount: myorg-acct\nuser: U\nauth: {password_env: SF_PW}\n');
    const r2 = await validateConfig({
      paths: [file],
      connectionFile: sf,
      connect: true,
      open: async () => {
        throw new Error('Incorrect username or password was specified.');
      },
    });
    expect(r2.problems.map(formatProblem)).toEqual([`${sf}:1:1: cannot open the snowflake warehouse: Incorrect username or password was specified.`]);
  });

  it('a warehouse that does not answer is a problem after the timeout, not a hang', async () => {
    const file = sync('slow.yaml', `name: slow\nsource: {table: ev.orders}\nmetric: {name: M}\nmapping: {event_timestamp: ordered_at, change_timestamp: updated_at, profile: {email: email}}\n`);
    const r = await validateConfig({ paths: [file], connectionFile: conn, connect: true, timeoutMs: 200, open: () => new Promise(() => undefined) });
    expect(r.problems.map(formatProblem)).toEqual([`${conn}:2:7: cannot open the duckdb warehouse: opening the warehouse took longer than 200 ms`]);
  });
});

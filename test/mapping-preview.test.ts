/**
 * `dwh-import preview`: the real CLI (child process) against a real DuckDB file prints the events as
 * they would be sent and the rejects with their reasons, in cursor order, and sends nothing.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';

const run = promisify(execFile);
const dir = tempDir();
const syncsDir = join(dir, 'syncs');
const connectionFile = join(dir, 'connection.yaml');

beforeAll(async () => {
  await duckdbExec(
    join(dir, 'wh.duckdb'),
    'CREATE SCHEMA sales',
    `CREATE TABLE sales.lines (line_id INTEGER, invoice VARCHAR, email VARCHAR, phone VARCHAR, customer_id DOUBLE,
       sold_at TIMESTAMP, loaded_at TIMESTAMP, amount DECIMAL(10, 2), sku VARCHAR, note VARCHAR)`,
    `INSERT INTO sales.lines VALUES
       (3, 'C536379', NULL, NULL, 14527.0, '2010-12-01 09:41:00', '2024-01-01 00:00:02', -27.50, 'D', NULL),
       (1, '536365', ' Ann@Example.org ', '555-0100 ext. 2', 17850.0, '2010-12-01 08:26:00', '2024-01-01 00:00:01', 15.30, 'MUG', ''),
       (2, '536366', NULL, NULL, NULL, '2010-12-01 08:28:00', '2024-01-01 00:00:01', 11.10, 'PEN', 'gift'),
       (4, '536367', 'bob@example.org', NULL, NULL, '2010-12-01 08:34:00', NULL, 1.00, 'X', NULL)`,
  );
  mkdirSync(syncsDir);
  writeFileSync(connectionFile, `type: duckdb\npath: ${join(dir, 'wh.duckdb')}\n`);
  writeFileSync(
    join(syncsDir, 'lines.yaml'),
    `name: sales-lines
source:
  table: sales.lines
  tie_breaker: line_id
metric:
  name: Ordered Product
mapping:
  event_timestamp: sold_at
  change_timestamp: loaded_at
  value: amount
  profile:
    email: email
    phone_number: phone
    external_id: customer_id
options:
  timestamp_zone: Europe/London
  default_phone_region: US
`,
  );
});

async function preview(...args: string[]) {
  const { stdout } = await run(process.execPath, ['bin/dwh-import.js', 'preview', ...args, '--syncs', syncsDir, '--connection', connectionFile], {
    env: { ...process.env, KLAVIYO_BASE_URL: 'http://127.0.0.1:9', KLAVIYO_API_KEY: '' },
  });
  return stdout;
}

describe('dwh-import preview', () => {
  it('--json: rows in cursor order, events in wire form, rejects with reason, column and values; --body: the exact request', async () => {
    const out = JSON.parse(await preview('sales-lines', '--limit', '3', '--json', '--body'));
    expect(out).toMatchObject({ sync: 'sales-lines', table: 'sales.lines', backfill: false, nullChangeRows: 1, events: 2, rejected: { missing_identifier: 1 }, warnings: { invalid_phone: 1 }, requests: 1, duplicates: 0 });
    expect(out.rows).toHaveLength(3);
    const [first, second, third] = out.rows;
    expect(first).toEqual({
      row: 1,
      ok: true,
      unique_id: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      profile: { data: { type: 'profile', attributes: { email: 'Ann@Example.org', external_id: '17850' } } },
      event: {
        type: 'event',
        attributes: {
          properties: { line_id: 1, invoice: '536365', sku: 'MUG' },
          time: '2010-12-01T08:26:00.000Z',
          unique_id: first.unique_id,
          metric: { data: { type: 'metric', attributes: { name: 'Ordered Product' } } },
          value: 15.3,
        },
      },
      warnings: [{ reason: 'invalid_phone', column: 'phone', detail: '"555-0100 ext. 2" is not a valid phone number for default region US (E.164 needed)' }],
    });
    expect(second).toEqual({
      row: 2,
      ok: false,
      key: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      reject: { reason: 'missing_identifier', column: 'email, phone, customer_id', detail: 'no profile identifier: "email", "phone", "customer_id" are all NULL or empty' },
      values: { line_id: 2, invoice: '536366', email: null, phone: null, customer_id: null, sold_at: '2010-12-01T08:28:00.000000', loaded_at: '2024-01-01T00:00:01.000000', amount: '11.10', sku: 'PEN', note: 'gift' },
    });
    expect(third).toMatchObject({ row: 3, ok: true, profile: { data: { attributes: { external_id: '14527' } } }, event: { attributes: { value: -27.5, properties: { invoice: 'C536379', sku: 'D', line_id: 3 } } } });

    expect(out.bodies).toHaveLength(1);
    expect(out.bodies[0].data.type).toBe('event-bulk-create-job');
    const groups = out.bodies[0].data.attributes['events-bulk-create'].data;
    expect(groups).toEqual([
      { type: 'event-bulk-create', attributes: { profile: first.profile, events: { data: [first.event] } } },
      { type: 'event-bulk-create', attributes: { profile: third.profile, events: { data: [third.event] } } },
    ]);
  });

  it('text output names each row, the reject reason and the summary; --backfill marks the events', async () => {
    const out = await preview('sales-lines', '--limit', '2', '--backfill');
    expect(out).toContain('preview of sales-lines: the first 2 row(s) of sales.lines in cursor order (loaded_at, line_id), as a backfill');
    expect(out).toContain('row 1: event ');
    expect(out).toContain('  warning invalid_phone (phone): "555-0100 ext. 2" is not a valid phone number for default region US (E.164 needed)');
    expect(out).toContain('"backfill": true');
    expect(out).toContain('row 2: rejected missing_identifier (email, phone, customer_id): no profile identifier');
    expect(out).toMatch(/summary \(nothing was sent\)\n {2}rows read {9}2\n {2}events {12}1\n {2}rows rejected {5}1: missing_identifier 1\n {2}warnings {10}invalid_phone 1 \(identifier dropped, event kept\)\n {2}would send {8}1 bulk request\(s\), \d+ bytes\n {2}NULL change time {2}1 row\(s\)/);
  });

  it('a TIMESTAMP_NS change column (its range ends in 2262) previews like any other', async () => {
    await duckdbExec(
      join(dir, 'wh.duckdb'),
      'CREATE TABLE sales.ns (id VARCHAR, email VARCHAR, ev TIMESTAMP, upd TIMESTAMP_NS)',
      "INSERT INTO sales.ns VALUES ('o1', 'a@example.org', '2026-11-01', '2026-11-01 00:00:00.000000001')",
    );
    const nsDir = join(dir, 'syncs-ns');
    mkdirSync(nsDir);
    writeFileSync(
      join(nsDir, 'ns.yaml'),
      'name: ns\nsource:\n  table: sales.ns\nmetric:\n  name: Ns\nmapping:\n  event_timestamp: ev\n  change_timestamp: upd\n  unique_id: id\n  profile:\n    email: email\n',
    );
    const { stdout } = await run(process.execPath, ['bin/dwh-import.js', 'preview', 'ns', '--syncs', nsDir, '--connection', connectionFile], {
      env: { ...process.env, KLAVIYO_BASE_URL: 'http://127.0.0.1:9', KLAVIYO_API_KEY: '' },
    });
    expect(stdout).toContain('row 1: event o1');
    expect(stdout).toMatch(/rows read {9}1\n {2}events {12}1\n/);
  });

  it('an unknown sync name lists the known ones', async () => {
    await expect(preview('nope')).rejects.toMatchObject({ stderr: expect.stringMatching(/^error: no sync named "nope" in .*syncs \(syncs: sales-lines\)\n$/) });
  });
});

/**
 * The example syncs under syncs/ and the JSON Schemas: every example is valid without a single warning,
 * together they cover what the issue lists (constant metric, metric from a column, each identifier
 * kind, optional fields absent, nested `___` properties), and the schemas document every field.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSyncs } from '../config/discover.ts';
import { checkConnectionFile, checkSyncText, loadSyncFile } from '../config/load.ts';
import { PROFILE_IDENTIFIERS } from '../config/types.ts';
import { validateConfig } from '../config/validate.ts';
import { DEMO_TABLE, seedDemoWarehouse } from '../devenv/demo-data.ts';
import { duckdbExec, duckdbQuery, tempDir } from './helpers/duckdb.ts';

const ROOT = join(import.meta.dirname, '..');
const SYNCS = join(ROOT, 'syncs');
const exampleFiles = readdirSync(SYNCS).filter((f) => f.endsWith('.yaml')).sort();

describe('example syncs', () => {
  const checked = checkSyncs([SYNCS]);

  it('are all valid, with no warning', () => {
    expect(checked.problems).toEqual([]);
    expect(checked.syncs.map((s) => s.sync.name)).toEqual(['app-events', 'loyalty-points', 'shop-orders', 'sms-replies', 'support-tickets']);
  });

  it('cover a constant metric and a metric from a column', () => {
    const syncs = checked.syncs.map((s) => s.sync);
    expect(syncs.filter((s) => s.metric.name !== undefined).map((s) => s.name)).toEqual(['loyalty-points', 'shop-orders', 'sms-replies', 'support-tickets']);
    expect(syncs.filter((s) => s.metric.column !== undefined).map((s) => s.name)).toEqual(['app-events']);
  });

  it('cover each identifier kind, and each kind alone in some sync', () => {
    const syncs = checked.syncs.map((s) => s.sync);
    for (const kind of PROFILE_IDENTIFIERS) {
      expect(syncs.some((s) => s.mapping.profile[kind] !== undefined), kind).toBe(true);
    }
    const alone = syncs.filter((s) => Object.keys(s.mapping.profile).length === 1).map((s) => Object.keys(s.mapping.profile)[0]).sort();
    expect(alone).toEqual(['email', 'external_id', 'klaviyo_id', 'phone_number']);
  });

  it('support-tickets leaves every optional field out and gets the documented defaults', () => {
    const text = readFileSync(join(SYNCS, 'support-tickets.yaml'), 'utf8');
    expect(text).not.toMatch(/^\s*(unique_id|value|value_currency|schedule|options|tie_breaker|description):/m);
    const sync = loadSyncFile(join(SYNCS, 'support-tickets.yaml'));
    expect(sync.schedule).toEqual({ cron: '0 * * * *', timezone: 'UTC', paused: false });
    expect(sync.options).toEqual({ page_size: 5000, settle_delay: '5m', lookback: '0s', timestamp_zone: 'UTC', default_phone_region: 'US', backfill: false });
    expect(sync.mapping.unique_id).toBeUndefined();
  });

  it('app-events maps nothing to its ___ columns, so they become nested properties (seen in demo-data)', () => {
    const demo = readFileSync(join(ROOT, 'devenv', 'demo-data.ts'), 'utf8');
    expect(demo).toContain('AS device___app___version');
    const sync = loadSyncFile(join(SYNCS, 'app-events.yaml'));
    expect(JSON.stringify(sync)).not.toContain('___');
  });

  it('each example names the schema in a yaml-language-server modeline and reads a demo table', () => {
    const demo = readFileSync(join(ROOT, 'devenv', 'demo-data.ts'), 'utf8');
    for (const f of exampleFiles) {
      const text = readFileSync(join(SYNCS, f), 'utf8');
      expect(text.split('\n')[0], f).toBe('# yaml-language-server: $schema=../schemas/sync.schema.json');
      const sync = loadSyncFile(join(SYNCS, f));
      const [schema, table] = sync.source.table.split('.');
      expect(demo, f).toContain(`schema: '${schema}',\n    table: '${table}',\n    sync: '${sync.name}',`);
    }
    expect(DEMO_TABLE).toBe('shop.order_events');
  });

  it('defaults are fresh objects per file (no sharing between loads)', () => {
    const text = 'name: a\nsource: {table: t}\nmetric: {name: M}\nmapping: {event_timestamp: e, change_timestamp: c, profile: {email: m}}\n';
    const a = checkSyncText('a.yaml', text).config!;
    const b = checkSyncText('b.yaml', text.replace('name: a', 'name: b')).config!;
    a.schedule.cron = '*/5 * * * *';
    a.options.page_size = 7;
    expect(b.schedule.cron).toBe('0 * * * *');
    expect(b.options.page_size).toBe(5000);
  });

  it('connection.yaml is valid and resolves its DuckDB path from its own folder', () => {
    const c = checkConnectionFile(join(ROOT, 'connection.yaml'));
    expect(c.problems).toEqual([]);
    expect(c.config).toEqual({ type: 'duckdb', path: join(ROOT, '.data', 'warehouse.duckdb') });
  });
});

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; oneOf?: Schema[] };

/** Every property schema with its dotted path. */
function properties(s: Schema, prefix = ''): [string, Schema][] {
  const out: [string, Schema][] = [];
  for (const [k, sub] of Object.entries(s.properties ?? {})) {
    out.push([`${prefix}${k}`, sub], ...properties(sub, `${prefix}${k}.`));
  }
  for (const alt of s.oneOf ?? []) out.push(...properties(alt, prefix));
  return out;
}

describe('JSON Schemas', () => {
  for (const name of ['sync', 'connection']) {
    const schema = JSON.parse(readFileSync(join(ROOT, 'schemas', `${name}.schema.json`), 'utf8')) as Schema;
    it(`${name}: draft 2020-12, and every field has a description and an example`, () => {
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      const props = properties(schema);
      expect(props.length).toBeGreaterThan(10);
      for (const [path, p] of props) {
        expect(typeof p.description, `${path} description`).toBe('string');
        expect(Array.isArray(p.examples) && (p.examples as unknown[]).length > 0, `${path} examples`).toBe(true);
      }
    });
  }

  it('sync: the defaults are explicit (hourly in UTC, page size, settle delay, timestamp zone, phone region)', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'schemas', 'sync.schema.json'), 'utf8')) as Schema;
    const p = Object.fromEntries(properties(schema));
    expect(p.schedule.default).toEqual({ cron: '0 * * * *', timezone: 'UTC', paused: false });
    expect(p['schedule.timezone'].default).toBe('UTC');
    expect(p['options.page_size'].default).toBe(5000);
    expect(p['options.settle_delay'].default).toBe('5m');
    expect(p['options.timestamp_zone'].default).toBe('UTC');
    expect(p['options.default_phone_region'].default).toBe('US');
    expect(p['options.lookback'].default).toBe('0s');
    expect(p['options.backfill'].default).toBe(false);
  });

  it('every example in the sync schema is itself valid where it stands', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'schemas', 'sync.schema.json'), 'utf8')) as Schema;
    const whole = (schema.examples as unknown[])[0];
    const r = checkSyncText('example.yaml', JSON.stringify(whole));
    expect(r.problems).toEqual([]);
  });
});

describe('demo warehouse', () => {
  it('seeding adds the missing tables to an existing warehouse and leaves existing ones alone', async () => {
    const dir = tempDir('dwh-import-demo-');
    const path = join(dir, 'warehouse.duckdb');
    await duckdbExec(path, 'CREATE SCHEMA shop', 'CREATE TABLE shop.order_events AS SELECT 42 AS kept');
    expect(await seedDemoWarehouse(path)).toEqual([
      { table: 'app.events', sync: 'app-events', rows: 800 },
      { table: 'loyalty.point_events', sync: 'loyalty-points', rows: 400 },
      { table: 'support.tickets', sync: 'support-tickets', rows: 300 },
      { table: 'messaging.sms_replies', sync: 'sms-replies', rows: 300 },
    ]);
    expect(await duckdbQuery(path, 'SELECT * FROM shop.order_events')).toEqual([{ kept: 42 }]);
    expect(await duckdbQuery(path, 'SELECT count(*)::INTEGER AS n FROM app.events')).toEqual([{ n: 800 }]);
    expect(await seedDemoWarehouse(path)).toEqual([]);
  });

  it('every example sync fits its demo table (validate --connect: no problem at all)', async () => {
    const dir = tempDir('dwh-import-demo-');
    const created = await seedDemoWarehouse(join(dir, 'warehouse.duckdb'));
    expect(created.reduce((n, t) => n + t.rows, 0)).toBe(2800);
    const conn = join(dir, 'connection.yaml');
    writeFileSync(conn, 'type: duckdb\npath: warehouse.duckdb\n');
    const r = await validateConfig({ paths: [SYNCS], connectionFile: conn, connect: true });
    expect(r.problems).toEqual([]);
    expect(r.syncs.map((s) => [s.name, s.columns?.properties.map((p) => p.path.join('.'))])).toEqual([
      ['app-events', ['product.id', 'product.name', 'product.price', 'device.os', 'device.app.version', 'page.url']],
      ['loyalty-points', ['points', 'reason', 'tier.name', 'tier.level']],
      ['shop-orders', ['product', 'quantity', 'coupon', 'shipping.city', 'shipping.country']],
      ['sms-replies', ['keyword', 'campaign']],
      ['support-tickets', ['subject', 'priority', 'channel']],
    ]);
  });
});

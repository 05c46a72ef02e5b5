/**
 * The pure parts of operations: Temporal connection settings from flags, environment and TOML
 * profiles; the sync diff and the pause rule of apply; masking of row values; secret scrubbing of
 * JSON logs; the progress line.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { describeTemporal, temporalConnectionOptions, temporalSettings, temporalUiUrl } from '../config/env.ts';
import { listSyncFiles } from '../config/discover.ts';
import { parseSyncText } from '../config/load.ts';
import { temporalFrom } from '../cli/context.ts';
import { changeLine } from '../cli/ops-format.ts';
import { REDACTED, createJsonLogger, scrub, secretValues } from '../observability/logging.ts';
import { maskDetail, maskText, maskValue } from '../ops/mask.ts';
import { diffSyncs, memoPath } from '../ops/plan.ts';
import { durationText, estimate, literalMs, progressLine } from '../ops/progress.ts';
import { canonicalJson, desiredState, syncHash } from '../ops/schedules.ts';
import type { RunProgress } from '../workflows/index.ts';
import { tempDir } from './helpers/duckdb.ts';

const BASE = `
name: orders
source:
  table: shop.orders
metric:
  name: Placed Order
mapping:
  event_timestamp: placed_at
  change_timestamp: updated_at
  profile:
    email: email
`;
const sync = (extra = '') => parseSyncText('orders.yaml', BASE + extra);

describe('Temporal connection settings', () => {
  it('defaults to the local dev server', () => {
    const s = temporalSettings({}, { TEMPORAL_CONFIG_FILE: '/nonexistent.toml' });
    expect(s).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'dwh-import', uiUrl: 'http://localhost:8233' });
    expect(s.tls).toBeUndefined();
    expect(temporalConnectionOptions(s)).toEqual({ address: '127.0.0.1:7233' });
  });

  it('reads the standard environment variables; an API key turns TLS on and is never described', () => {
    const env = {
      TEMPORAL_CONFIG_FILE: '/nonexistent.toml',
      TEMPORAL_ADDRESS: 'acme.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'acme.a1b2c',
      TEMPORAL_API_KEY: 'secret-api-key-123',
      TEMPORAL_GRPC_META_X_TEAM: 'data',
      DWH_IMPORT_TASK_QUEUE: 'imports',
    };
    const s = temporalSettings({}, env);
    expect(s).toMatchObject({ address: 'acme.a1b2c.tmprl.cloud:7233', namespace: 'acme.a1b2c', taskQueue: 'imports', apiKey: 'secret-api-key-123', tls: true, uiUrl: 'https://cloud.temporal.io' });
    expect(temporalConnectionOptions(s)).toEqual({ address: 'acme.a1b2c.tmprl.cloud:7233', apiKey: 'secret-api-key-123', tls: true, metadata: { 'x-team': 'data' } });
    expect(describeTemporal(s)).toBe('acme.a1b2c.tmprl.cloud:7233 (namespace acme.a1b2c, TLS, API key)');
    expect(temporalSettings({}, { ...env, TEMPORAL_TLS: 'false' }).tls).toBe(false);
  });

  it('reads mTLS files (current and older variable names) and a TOML profile; flags win over both', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'certs'));
    writeFileSync(join(dir, 'certs', 'client.pem'), 'CERT');
    writeFileSync(join(dir, 'certs', 'client.key'), 'KEY');
    writeFileSync(join(dir, 'certs', 'ca.pem'), 'CA');
    const env = {
      TEMPORAL_CONFIG_FILE: '/nonexistent.toml',
      TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'certs', 'client.pem'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'certs', 'client.key'),
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'certs', 'ca.pem'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    };
    const opts = temporalConnectionOptions(temporalSettings({}, env));
    expect(opts.tls).toEqual({ serverNameOverride: 'temporal.internal', serverRootCACertificate: Buffer.from('CA'), clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') } });
    const legacy = temporalConnectionOptions(temporalSettings({}, { TEMPORAL_CONFIG_FILE: '/x.toml', TEMPORAL_TLS_CERT: env.TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_KEY: env.TEMPORAL_TLS_CLIENT_KEY_PATH }));
    expect(legacy.tls).toMatchObject({ clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') } });
    expect(() => temporalConnectionOptions(temporalSettings({}, { TEMPORAL_CONFIG_FILE: '/x.toml', TEMPORAL_TLS_CLIENT_CERT_PATH: env.TEMPORAL_TLS_CLIENT_CERT_PATH }))).toThrow(
      'Temporal mTLS needs both a client certificate and its key',
    );
    expect(() => temporalConnectionOptions(temporalSettings({}, { TEMPORAL_CONFIG_FILE: '/x.toml', TEMPORAL_TLS_CLIENT_CERT_PATH: '/missing.pem', TEMPORAL_TLS_CLIENT_KEY_PATH: '/missing.key' }))).toThrow(
      'cannot read the Temporal client certificate file /missing.pem: ENOENT',
    );

    const toml = join(dir, 'temporal.toml');
    writeFileSync(toml, '[profile.prod]\naddress = "prod.example:7233"\nnamespace = "imports"\n[profile.prod.tls]\nserver_name = "prod"\n');
    const prod = temporalSettings({}, { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod' });
    expect(prod).toMatchObject({ address: 'prod.example:7233', namespace: 'imports', tls: { serverName: 'prod' }, uiUrl: undefined });
    expect(temporalSettings({}, { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod', TEMPORAL_NAMESPACE: 'other' }).namespace).toBe('other');
    expect(temporalSettings({ namespace: 'flag', profile: 'prod' }, { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_NAMESPACE: 'other' }).namespace).toBe('flag');
    expect(() => temporalSettings({ profile: 'nope' }, { TEMPORAL_CONFIG_FILE: toml })).toThrow(`cannot read the Temporal client configuration (${toml}): Profile 'nope' not found`);
  });

  it('CLI flags override the environment', () => {
    const saved = { ...process.env };
    try {
      process.env.TEMPORAL_CONFIG_FILE = '/nonexistent.toml';
      process.env.TEMPORAL_ADDRESS = 'env:7233';
      const s = temporalFrom({ address: 'flag:7233', tlsServerName: 'sni.example', uiUrl: 'https://ui.example' });
      expect(s).toMatchObject({ address: 'flag:7233', tls: { serverName: 'sni.example' }, uiUrl: 'https://ui.example' });
    } finally {
      process.env = saved;
    }
  });

  it('knows the Web UI of a dev server and of Temporal Cloud only', () => {
    expect(temporalUiUrl('localhost:7233')).toBe('http://localhost:8233');
    expect(temporalUiUrl('127.0.0.1:40111')).toBe('http://localhost:41111');
    expect(temporalUiUrl('ns.acct.tmprl.cloud:7233')).toBe('https://cloud.temporal.io');
    expect(temporalUiUrl('temporal.prod.internal:7233')).toBeUndefined();
  });
});

describe('plan: the sync diff and the pause rule', () => {
  it('lists changed, added and removed fields by YAML path, in YAML order; key order alone is no change', () => {
    const before = sync('description: old\noptions:\n  page_size: 250\n');
    const after = sync('schedule:\n  interval: 15m\noptions:\n  page_size: 500\n  lookback: 1h\n');
    after.mapping.profile.phone_number = 'phone';
    const changes = diffSyncs(before, after);
    // In YAML order of the new file; a removed field right after the field that preceded it.
    expect(changes.map(changeLine)).toEqual([
      '- description: "old"',
      '+ mapping.profile.phone_number: "phone"',
      '- schedule.cron: "0 * * * *"',
      '+ schedule.interval: "15m"',
      '~ options.page_size: 250 -> 500',
      '~ options.lookback: "0s" -> "1h"',
    ]);
    const { options, ...rest } = before;
    const reordered = JSON.parse(JSON.stringify({ options, ...rest }));
    expect(diffSyncs(before, reordered)).toEqual([]);
    expect(syncHash(reordered)).toBe(syncHash(before));
    expect(canonicalJson({ b: 1, a: [2, { d: 1, c: undefined }] })).toBe('{"a":[2,{"d":1}],"b":1}');
  });

  it('pauses what the YAML declares paused; keeps an operator pause; lifts only a pause that came from the YAML', () => {
    const running = sync();
    const paused = sync('schedule:\n  paused: true\n');
    expect(desiredState(paused, { paused: false }, running, 'syncs/o.yaml')).toEqual({ paused: true, note: 'paused by dwh-import apply: schedule.paused is true in syncs/o.yaml', reason: 'schedule.paused is true in the YAML' });
    expect(desiredState(paused, { paused: true, note: 'x' }, paused)).toBeUndefined();
    expect(desiredState(running, { paused: true, note: 'paused by ops' }, running)).toBeUndefined();
    expect(desiredState(running, { paused: true }, paused, 'syncs/o.yaml')).toMatchObject({ paused: false, reason: 'schedule.paused was removed from the YAML' });
    expect(desiredState(running, { paused: false }, running)).toBeUndefined();
  });

  it('records the file relative to the syncs folder, whatever the current directory', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'syncs'));
    writeFileSync(join(dir, 'syncs', 'a.yaml'), BASE);
    expect(memoPath(join(dir, 'syncs'), join(dir, 'syncs', 'a.yaml'))).toBe('syncs/a.yaml');
    expect(memoPath(join(dir, 'syncs', 'a.yaml'), join(dir, 'syncs', 'a.yaml'))).toBe('a.yaml');
  });

  it('reads sync files in sub-folders too (syncs by team), skipping hidden ones', () => {
    const dir = tempDir();
    for (const sub of ['syncs/shop/eu', 'syncs/.drafts', 'syncs/app']) mkdirSync(join(dir, sub), { recursive: true });
    for (const f of ['syncs/z.yml', 'syncs/shop/eu/orders.yaml', 'syncs/.drafts/x.yaml', 'syncs/app/events.YAML', 'syncs/app/notes.txt']) writeFileSync(join(dir, f), BASE);
    expect(listSyncFiles(join(dir, 'syncs')).map((f) => f.slice(dir.length + 1))).toEqual(['syncs/app/events.YAML', 'syncs/shop/eu/orders.yaml', 'syncs/z.yml']);
    expect(memoPath(join(dir, 'syncs'), join(dir, 'syncs', 'shop', 'eu', 'orders.yaml'))).toBe('syncs/shop/eu/orders.yaml');
  });
});

describe('masking of row values', () => {
  it('keeps the shape, hides letters and digits', () => {
    expect(maskText(' Ann@Example.org ')).toBe(' Xxx@Xxxxxxx.xxx ');
    expect(maskText('+49 (0)30 1234567')).toBe('+99 (9)99 9999999');
    expect(maskText('Zoë Ünal')).toBe('Xxx Xxxx');
    expect(maskText('a'.repeat(60))).toBe(`${'x'.repeat(48)}...(60 chars)`);
    expect(maskValue(null)).toBe('NULL');
    expect(maskValue(true)).toBe('true');
    expect(maskValue(17850)).toBe('99999');
    expect(maskValue('o-1')).toBe('"x-9"');
    expect(maskValue({ city: 'Leeds' })).toBe('{"xxxx":"Xxxxx"}');
  });

  it('masks the values a reject detail quotes', () => {
    expect(maskDetail('"ann@" is not a valid email address', { email: 'ann@' })).toBe('"xxx@" is not a valid email address');
    expect(maskDetail('cannot read 2026-13-01 as a timestamp', { t: '2026-13-01' })).toBe('cannot read 9999-99-99 as a timestamp');
    expect(maskDetail('no profile identifier: "email", "Phone" are all NULL or empty', { email: null, phone: null })).toBe('no profile identifier: "email", "Phone" are all NULL or empty');
  });
});

describe('JSON logs', () => {
  function capture() {
    const out: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        out.push(String(chunk));
        cb();
      },
    });
    return { out, stream };
  }

  it('scrubs secret values wherever they appear, and redacts credential fields', () => {
    const secrets = secretValues({ KLAVIYO_API_KEY: 'pk_live_abcdef123456', TEMPORAL_API_KEY: 'tmprl-key-"quoted"', SNOW_PW: 'hunter2hunter2', SHORT: 'abc' }, ['SNOW_PW', 'SHORT']);
    expect(secrets).toEqual(['pk_live_abcdef123456', 'tmprl-key-"quoted"', 'hunter2hunter2']);
    const { out, stream } = capture();
    const log = createJsonLogger({ secrets, destination: stream });
    log.info({ apiKey: 'anything', headers: { authorization: 'Klaviyo-API-Key x' }, sync: 'orders' }, 'request failed with key pk_live_abcdef123456');
    log.error({ error: new Error('login failed for password hunter2hunter2') }, 'boom tmprl-key-"quoted"');
    const lines = out.join('').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ level: 'info', service: 'dwh-import', sync: 'orders', apiKey: REDACTED, headers: { authorization: REDACTED }, msg: `request failed with key ${REDACTED}` });
    expect(lines[1]).toMatchObject({ level: 'error', msg: `boom ${REDACTED}`, error: { message: `login failed for password ${REDACTED}` } });
    expect(out.join('')).not.toMatch(/pk_live|hunter2|tmprl-key/);
    expect(scrub('a pk_live_abcdef123456 b', secrets)).toBe(`a ${REDACTED} b`);
  });
});

describe('progress line', () => {
  const p = (rows: number, events: number, after: string | null): RunProgress => ({
    stateKey: 'orders',
    phase: 'main',
    rowsRead: rows,
    eventsAccepted: events,
    duplicates: 0,
    alreadySent: 0,
    rejected: { missing_identifier: rows - events },
    warnings: {},
    pages: rows / 100,
    requests: 0,
    throttled: 0,
    retries: 0,
    lookbackRows: 0,
    lateEvents: 0,
    after: after ? { ts: after, key: 'x' } : null,
    watermark: null,
    until: '2026-03-01T09:55:00.000000',
    continuedAsNew: 0,
  });

  it('shows counters, the event rate over the last 10 s and the change timestamp reached', () => {
    const samples = [
      { at: 0, progress: p(100, 90, '2026-01-01T00:00:00.000000') },
      { at: 5_000, progress: p(600, 590, '2026-01-15T00:00:00.000000') },
      { at: 12_000, progress: p(1200, 1190, '2026-02-01T10:00:00.123456') },
    ];
    const e = estimate(samples);
    expect(e.eventsPerSecond).toBeCloseTo((1190 - 90) / 12, 6);
    expect(progressLine(samples[2].progress, e)).toBe('page 12 | rows 1,200 | events 1,190 (92/s) | rejected 10 | at 2026-02-01 10:00:00 of <= 2026-03-01 09:55:00');
    expect(estimate([samples[0]]).eventsPerSecond).toBeNull();
    expect(progressLine({ ...samples[0].progress, phase: 'prepare', until: null }, e)).toBe("checking the source and fixing the run's bounds");
    expect(literalMs('2026-02-01')).toBe(Date.UTC(2026, 1, 1));
    expect(literalMs('2026-02-01T10:00:00.123456Z')).toBe(Date.UTC(2026, 1, 1, 10, 0, 0, 123));
  });
});

describe('durations', () => {
  it('reads as a person would say them', () => {
    expect(durationText(412)).toBe('412 ms');
    expect(durationText(42_000)).toBe('42s');
    expect(durationText(190_000)).toBe('3m 10s');
    expect(durationText(7_500_000)).toBe('2h 05m');
  });
});

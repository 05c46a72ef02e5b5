/**
 * Row-to-event rules (DESIGN.md 1-8), table-driven, on rows in the reader's value model (no server).
 * Every case states the exact event or the exact reject.
 */
import { describe, expect, it } from 'vitest';
import { compileMapper, MappingError } from '../mapping/map-row.ts';
import type { SourceValue } from '../activities/warehouse/types.ts';
import type { MapResult } from '../mapping/types.ts';
import { cols, NOW, now, syncOf } from './helpers/mapping.ts';

const UPDATED = '2026-01-01T00:00:00.000000';

function okEvent(r: MapResult) {
  if (!r.ok) throw new Error(`expected an event, got reject ${JSON.stringify(r.reject)}`);
  return r.event;
}
function rejectOf(r: MapResult) {
  if (r.ok) throw new Error(`expected a reject, got event ${JSON.stringify(r.event).slice(0, 400)}`);
  return r.reject;
}

describe('rule 1: metric', () => {
  const columns = cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text', 'event_name:text');
  const perRow = compileMapper(syncOf({ metric: { column: 'event_name' } }), columns, now);
  it.each<[SourceValue, string]>([
    ['Placed Order', 'Placed Order'],
    ['  Viewed Product ', 'Viewed Product'],
    ['x'.repeat(127), 'x'.repeat(127)],
    ['🛒'.repeat(127), '🛒'.repeat(127)], // 127 characters, 254 UTF-16 units
  ])('metric column value %j -> %j', (v, metric) => {
    expect(okEvent(perRow.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', v])).metric).toBe(metric);
  });
  it.each<[SourceValue, string, string]>([
    [null, 'missing_metric', 'metric name in "event_name" is NULL or empty'],
    ['', 'missing_metric', 'metric name in "event_name" is NULL or empty'],
    ['   ', 'missing_metric', 'metric name in "event_name" is NULL or empty'],
    ['x'.repeat(128), 'metric_too_long', `metric name "${'x'.repeat(60)}"... has 128 characters; Klaviyo accepts 1 to 127`],
  ])('metric column value %j -> reject %s', (v, reason, detail) => {
    expect(rejectOf(perRow.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', v]))).toEqual({ reason, column: 'event_name', detail });
  });
  it('a constant metric is used as is, and the metric column becomes no property', () => {
    const c = compileMapper(syncOf({ metric: { name: 'Refund' } }), columns, now);
    const e = okEvent(c.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', 'ignored']));
    expect(e.metric).toBe('Refund');
    expect(e.properties).toEqual({ event_name: 'ignored' });
    expect(perRow.propertyColumns).toEqual([]);
  });
});

describe('rule 2: event time', () => {
  const at = (kind: string, zone: string) =>
    compileMapper(syncOf({ options: { timestamp_zone: zone } }), cols(`ts:${kind}`, 'updated_at:timestamp_ntz', 'email:text'), now);
  it.each<[string, string, SourceValue, string]>([
    // kind, zone, value, expected time (ms, UTC, truncated)
    ['timestamp_ntz', 'UTC', '2024-05-01T10:00:00.123456', '2024-05-01T10:00:00.123Z'],
    ['timestamp_ntz', 'UTC', '2024-05-01T10:00:00.999999', '2024-05-01T10:00:00.999Z'], // truncated, never rounded to the next second
    ['timestamp_ntz', 'Europe/London', '2024-07-01T10:00:00.000000', '2024-07-01T09:00:00.000Z'], // BST
    ['timestamp_ntz', 'Europe/London', '2024-01-15T10:00:00.000000', '2024-01-15T10:00:00.000Z'], // GMT
    ['timestamp_ntz', 'America/New_York', '2024-03-10T02:30:00.000000', '2024-03-10T07:30:00.000Z'], // gap: 02:30 EST does not exist -> 03:30 EDT
    ['timestamp_ntz', 'America/New_York', '2024-11-03T01:30:00.000000', '2024-11-03T05:30:00.000Z'], // repeated hour: the earlier (EDT)
    ['timestamp_ntz', 'Asia/Kolkata', '2024-05-01T05:30:00.000000', '2024-05-01T00:00:00.000Z'],
    ['timestamp_tz', 'America/New_York', '2024-05-01T10:00:00.123456Z', '2024-05-01T10:00:00.123Z'], // zone option does not apply
    ['date', 'UTC', '2024-05-01', '2024-05-01T00:00:00.000Z'],
    ['date', 'America/New_York', '2024-03-10', '2024-03-10T05:00:00.000Z'], // pitfall 3: midnight in the zone, not UTC
    ['date', 'Pacific/Auckland', '2024-05-01', '2024-04-30T12:00:00.000Z'],
    ['date', 'America/Santiago', '2024-09-08', '2024-09-08T04:00:00.000Z'], // midnight does not exist there that day: 01:00 -03
    ['text', 'UTC', '2024-05-01T10:00:00Z', '2024-05-01T10:00:00.000Z'],
    ['text', 'UTC', '2024-05-01T12:00:00+02:00', '2024-05-01T10:00:00.000Z'],
    ['text', 'UTC', '2024-05-01T12:00:00+0200', '2024-05-01T10:00:00.000Z'],
    ['text', 'UTC', '2024-05-01 10:00:00 UTC', '2024-05-01T10:00:00.000Z'],
    ['text', 'Europe/Berlin', '2024-05-01 10:00', '2024-05-01T08:00:00.000Z'],
    ['text', 'Europe/Berlin', ' 2024-05-01T10:00:00.5 ', '2024-05-01T08:00:00.500Z'],
    ['text', 'Europe/Berlin', '2024-05-01', '2024-04-30T22:00:00.000Z'],
    ['text', 'UTC', '2024-05-01T10:00:00.123456789Z', '2024-05-01T10:00:00.123Z'],
    ['text', 'UTC', '1990-01-01T00:00:00Z', '1990-01-01T00:00:00.000Z'], // first accepted instant
  ])('%s in %s: %j -> %s', (kind, zone, v, time) => {
    expect(okEvent(at(kind, zone).map([v, UPDATED, 'a@b.co'])).time).toBe(time);
  });

  it.each<[string, SourceValue, string, string]>([
    ['text', 'yesterday', 'invalid_timestamp', '"yesterday" is not a timestamp (expected ISO 8601 such as 2024-05-01T10:00:00Z, 2024-05-01 10:00:00 or 2024-05-01)'],
    ['text', '1714557600', 'invalid_timestamp', '"1714557600" is not a timestamp (expected ISO 8601 such as 2024-05-01T10:00:00Z, 2024-05-01 10:00:00 or 2024-05-01)'],
    ['text', '2024-02-30', 'invalid_timestamp', '"2024-02-30" is not a timestamp (expected ISO 8601 such as 2024-05-01T10:00:00Z, 2024-05-01 10:00:00 or 2024-05-01)'],
    ['text', '2024-05-01T24:00:00Z', 'invalid_timestamp', '"2024-05-01T24:00:00Z" is not a timestamp (expected ISO 8601 such as 2024-05-01T10:00:00Z, 2024-05-01 10:00:00 or 2024-05-01)'],
    ['timestamp_ntz', null, 'invalid_timestamp', 'event timestamp "ts" is NULL'],
    ['timestamp_ntz', '1989-12-31T23:59:59.999999', 'timestamp_out_of_range', 'event time 1989-12-31T23:59:59.999Z is outside what Klaviyo accepts (1990-01-01T00:00:00Z to now + 1 year, 2027-01-15T12:00:00.000Z)'],
    ['timestamp_ntz', '2027-01-15T12:00:00.001000', 'timestamp_out_of_range', 'event time 2027-01-15T12:00:00.001Z is outside what Klaviyo accepts (1990-01-01T00:00:00Z to now + 1 year, 2027-01-15T12:00:00.000Z)'],
    ['date', '0099-01-01', 'timestamp_out_of_range', 'event time 0099-01-01T00:00:00.000Z is outside what Klaviyo accepts (1990-01-01T00:00:00Z to now + 1 year, 2027-01-15T12:00:00.000Z)'],
  ])('%s %j -> reject %s', (kind, v, reason, detail) => {
    expect(rejectOf(at(kind, 'UTC').map([v, UPDATED, 'a@b.co']))).toEqual({ reason, column: 'ts', detail });
  });

  it('now + 1 year exactly is still accepted', () => {
    expect(okEvent(at('timestamp_ntz', 'UTC').map(['2027-01-15T12:00:00.000000', UPDATED, 'a@b.co'])).time).toBe('2027-01-15T12:00:00.000Z');
  });

  it('rejects a mapping whose event time column is not a time, and an invalid zone, before any row', () => {
    expect(() => compileMapper(syncOf(), cols('ts:integer', 'updated_at:timestamp_ntz', 'email:text'), now)).toThrow(
      new MappingError('column "ts" mapped as event_timestamp has type BIGINT; a TIMESTAMP, DATE or ISO 8601 text column is needed (convert epoch numbers in a view, e.g. TO_TIMESTAMP(col))'),
    );
    expect(() => compileMapper(syncOf({ options: { timestamp_zone: 'Mars/Olympus' } }), cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text'), now)).toThrow(
      /options.timestamp_zone of sync test-sync: "Mars\/Olympus" is not an IANA time zone name/,
    );
  });
});

describe('rule 3: profile identifiers', () => {
  const columns = cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text', 'phone:text', 'cid:float', 'kid:text');
  const mapper = (region = 'US') =>
    compileMapper(syncOf({ mapping: { profile: { email: 'email', phone_number: 'phone', external_id: 'cid', klaviyo_id: 'kid' } }, options: { default_phone_region: region } }), columns, now);
  const row = (email: SourceValue, phone: SourceValue, cid: SourceValue, kid: SourceValue) => ['2025-01-01T00:00:00.000000', UPDATED, email, phone, cid, kid];

  it.each<[string, SourceValue[], object, { reason: string; column: string }[] | undefined]>([
    ['email trimmed, case kept', row('  Ann@Example.org ', null, null, null), { email: 'Ann@Example.org' }, undefined],
    ['an email of 99 characters', row(` ann@${'x'.repeat(60)}.${'y'.repeat(30)}.org `, null, null, null), { email: `ann@${'x'.repeat(60)}.${'y'.repeat(30)}.org` }, undefined],
    ['float customer id without .0', row(null, null, 17850.0, null), { external_id: '17850' }, undefined],
    ['a negative integral id', row(null, null, -3, null), { external_id: '-3' }, undefined],
    ['a fractional id kept', row(null, null, 12.5, null), { external_id: '12.5' }, undefined],
    ['a huge float id, as digits', row(null, null, 1e21, null), { external_id: '1000000000000000000000' }, undefined],
    ['phone +49 (0)30 ...', row(null, '+49 (0)30 1234567', null, null), { phone_number: '+49301234567' }, undefined],
    ['phone with ITU 00 prefix', row(null, '0044 20 1234 5678', null, null), { phone_number: '+442012345678' }, undefined],
    ['phone national, default region', row(null, '(202) 456-1111', null, null), { phone_number: '+12024561111' }, undefined],
    ['phone with extension: E.164 has none', row(null, '+1 202 456 1111 ext. 2', null, null), { phone_number: '+12024561111' }, undefined],
    ['phone E.164 without +', row(null, '442079460018', null, null), { phone_number: '+442079460018' }, undefined],
    ['Klaviyo profile id, lower case accepted', row(null, null, null, '01gddkasap8tkdda2grzdsvp4h'), { id: '01GDDKASAP8TKDDA2GRZDSVP4H' }, undefined],
    ['every identifier', row('a@b.co', '+442079460018', 7, '01GDDKASAP8TKDDA2GRZDSVP4H'), { email: 'a@b.co', phone_number: '+442079460018', external_id: '7', id: '01GDDKASAP8TKDDA2GRZDSVP4H' }, undefined],
    ['bad phone dropped, email carries the event', row('a@b.co', '555-0100 ext. 2', null, null), { email: 'a@b.co' }, [{ reason: 'invalid_phone', column: 'phone' }]],
    ['bad email dropped, id carries the event', row('not-an-email', null, 99, null), { external_id: '99' }, [{ reason: 'invalid_email', column: 'email' }]],
    ['bad profile id dropped', row('a@b.co', null, null, 'abc'), { email: 'a@b.co' }, [{ reason: 'invalid_profile_id', column: 'kid' }]],
  ])('%s', (_name, r, profile, warnings) => {
    const res = mapper().map(r);
    expect(okEvent(res).profile).toEqual(profile);
    expect(res.ok && res.warnings?.map((w) => ({ reason: w.reason, column: w.column }))).toEqual(warnings ?? undefined);
  });

  it('warnings say what was wrong', () => {
    const res = mapper().map(row('a@b.co', '555-0100 ext. 2', null, null));
    expect(res.ok && res.warnings).toEqual([{ reason: 'invalid_phone', column: 'phone', detail: '"555-0100 ext. 2" is not a valid phone number for default region US (E.164 needed)' }]);
  });

  it('0044 needs no GB region, and a national number uses the default region', () => {
    expect(okEvent(mapper('DE').map(row(null, '030 1234567', null, null))).profile).toEqual({ phone_number: '+49301234567' });
    expect(okEvent(mapper('GB').map(row(null, '020 7946 0018', null, null))).profile).toEqual({ phone_number: '+442079460018' });
  });

  it.each<[string, SourceValue[], object]>([
    ['no identifier at all', row(null, null, null, null), { reason: 'missing_identifier', column: 'email, phone, cid, kid', detail: 'no profile identifier: "email", "phone", "cid", "kid" are all NULL or empty' }],
    ['only empty values', row('', ' ', null, ''), { reason: 'missing_identifier', column: 'email, phone, cid, kid', detail: 'no profile identifier: "email", "phone", "cid", "kid" are all NULL or empty' }],
    ['only an invalid email', row('ann@', null, null, null), { reason: 'invalid_email', column: 'email', detail: '"ann@" is not a valid email address; no other valid profile identifier' }],
    ['an email of 100 characters', row(`ann@${'x'.repeat(61)}.${'y'.repeat(30)}.org`, null, null, null), { reason: 'invalid_email', column: 'email', detail: `"ann@${'x'.repeat(56)}"... has 100 characters; Klaviyo accepts emails under 100; no other valid profile identifier` }],
    ['only an invalid phone', row(null, '555-0100 ext. 2', null, null), { reason: 'invalid_phone', column: 'phone', detail: '"555-0100 ext. 2" is not a valid phone number for default region US (E.164 needed); no other valid profile identifier' }],
    ['an invalid email and phone', row('x', '12', null, null), { reason: 'invalid_email', column: 'email', detail: '"x" is not a valid email address; no other valid profile identifier (1 more invalid)' }],
    ['a NaN external id', row(null, null, NaN, null), { reason: 'invalid_external_id', column: 'cid', detail: '"NaN" cannot be an external_id (not text or a finite number, or over 94 KB); no other valid profile identifier' }],
  ])('%s -> reject', (_name, r, reject) => {
    expect(rejectOf(mapper().map(r))).toEqual(reject);
  });

  it('a single mapped identifier is named alone', () => {
    const c = compileMapper(syncOf({ mapping: { profile: { external_id: 'CustomerID' } } }), cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'CustomerID:float'), now);
    expect(rejectOf(c.map(['2025-01-01T00:00:00.000000', UPDATED, null]))).toEqual({ reason: 'missing_identifier', column: 'CustomerID', detail: 'no profile identifier: "CustomerID" is NULL or empty' });
  });
});

describe('rule 4: unique_id', () => {
  const columns = cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text', 'order_id:float', 'sku:text');
  it('uses the mapped column, integral floats without .0', () => {
    const c = compileMapper(syncOf({ mapping: { unique_id: 'order_id' } }), columns, now);
    const r = c.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', 536365.0, 'MUG']);
    expect(r.key).toBe('536365');
    expect(okEvent(r).unique_id).toBe('536365');
    expect(okEvent(r).properties).toEqual({ sku: 'MUG' });
  });
  it('falls back to the derived hash when the column is NULL, with a warning', () => {
    const c = compileMapper(syncOf({ mapping: { unique_id: 'order_id' } }), columns, now);
    const r = c.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', null, 'MUG']);
    expect(okEvent(r).unique_id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.ok && r.warnings).toEqual([{ reason: 'missing_unique_id', column: 'order_id', detail: 'unique_id is NULL or empty: the derived content hash was sent instead' }]);
  });
  it('rejects a unique_id over 255 characters', () => {
    const c = compileMapper(syncOf({ mapping: { unique_id: 'sku' } }), columns, now);
    const r = rejectOf(c.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', 1, 'x'.repeat(256)]));
    expect(r).toEqual({ reason: 'invalid_unique_id', column: 'sku', detail: `unique_id "${'x'.repeat(60)}"... has 256 characters; Klaviyo accepts 1 to 255` });
  });

  describe('the derived hash', () => {
    const c = compileMapper(syncOf({ name: 'retail' }), columns, now);
    const base = ['2025-01-01T00:00:00.000000', '2026-01-01T00:00:00.000000', 'a@b.co', 17850, 'MUG'];
    const id = (row: SourceValue[], mapper = c) => okEvent(mapper.map(row)).unique_id;
    it('is 43 base64url characters and deterministic', () => {
      expect(id(base)).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(id([...base])).toBe(id(base));
    });
    it('ignores the change-detection timestamp: a re-written identical row dedups', () => {
      expect(id(['2025-01-01T00:00:00.000000', '2026-02-02T00:00:00.000000', 'a@b.co', 17850, 'MUG'])).toBe(id(base));
    });
    it('changes with any content, the sync, and NULL vs value', () => {
      const seen = new Set([
        id(base),
        id(['2025-01-01T00:00:00.000001', UPDATED, 'a@b.co', 17850, 'MUG']),
        id(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', 17851, 'MUG']),
        id(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', 17850, 'MUG ']),
        id(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', 17850, null]),
        id(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', 17850, '']),
        id(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', 17850, '17850']), // the same text in another column
        id(base, compileMapper(syncOf({ name: 'retail-2' }), columns, now)),
      ]);
      expect(seen.size).toBe(8);
    });
    it('does not depend on column order, and a new all-NULL column changes nothing', () => {
      const reordered = compileMapper(syncOf({ name: 'retail' }), cols('sku:text', 'order_id:float', 'email:text', 'updated_at:timestamp_ntz', 'ts:timestamp_ntz'), now);
      expect(id(['MUG', 17850, 'a@b.co', UPDATED, '2025-01-01T00:00:00.000000'], reordered)).toBe(id(base));
      const wider = compileMapper(syncOf({ name: 'retail' }), [...columns, ...cols('note:text')], now);
      expect(id([...base, null], wider)).toBe(id(base));
    });
    it('is the same value across processes (pinned)', () => {
      expect(id(base)).toBe('doO5LBlZ7c3jRVRQ0pcRGPUvgOFSifY2SeDdC5UcU7U');
    });
  });
});

describe('rule 5: value and currency', () => {
  const columns = (kind: string) => cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text', `amount:${kind}`, 'cur:text');
  const mapper = (kind: string) => compileMapper(syncOf({ mapping: { value: 'amount', value_currency: 'cur' } }), columns(kind), now);
  const row = (v: SourceValue, cur: SourceValue = null) => ['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', v, cur];

  it.each<[string, SourceValue, number | undefined]>([
    ['decimal', '19.90', 19.9],
    ['decimal', '-5.00', -5],
    ['decimal', '0.00', 0],
    ['decimal', '9999999999999.99', 9999999999999.99], // 15 significant digits always fit a double
    ['decimal', '19.900000000000000000', 19.9], // DECIMAL(38,18): trailing zeros are the same value
    ['decimal', '0.1', 0.1],
    ['integer', 42, 42],
    ['integer', '9007199254740992', 9007199254740992], // 2^53 is a double exactly
    ['float', 2.55, 2.55],
    ['float', -0, 0],
    ['text', ' 12.5 ', 12.5],
    ['text', '1e3', 1000],
    ['text', '+.5', 0.5],
    ['text', '', undefined],
    ['text', null, undefined],
  ])('%s %j -> value %j', (kind, v, value) => {
    expect(okEvent(mapper(kind).map(row(v))).value).toBe(value);
  });

  it.each<[string, SourceValue, string, string]>([
    ['decimal', '12345678901234567.89', 'inexact_value', 'value "12345678901234567.89" cannot be sent as a JSON number without changing it (the nearest is 12345678901234568); round it in the source, e.g. ROUND(amount, 2), or cast it to DOUBLE to accept the nearest number'],
    ['decimal', '99999999999999.99', 'inexact_value', 'value "99999999999999.99" cannot be sent as a JSON number without changing it (the nearest is 99999999999999.98); round it in the source, e.g. ROUND(amount, 2), or cast it to DOUBLE to accept the nearest number'],
    ['integer', '9007199254740993', 'inexact_value', 'value "9007199254740993" cannot be sent as a JSON number without changing it (the nearest is 9007199254740992); round it in the source, e.g. ROUND(amount, 2), or cast it to DOUBLE to accept the nearest number'],
    ['text', '$12.00', 'invalid_value', 'value "$12.00" is not a number (plain decimal needed: no currency signs or thousands separators)'],
    ['text', '1,234.50', 'invalid_value', 'value "1,234.50" is not a number (plain decimal needed: no currency signs or thousands separators)'],
    ['text', '1e999', 'invalid_value', 'value "1e999" is not a number (plain decimal needed: no currency signs or thousands separators)'],
    ['float', NaN, 'invalid_value', 'value "NaN" is not a finite number'],
    ['float', Infinity, 'invalid_value', 'value "Infinity" is not a finite number'],
    ['boolean', true, 'invalid_value', 'value "true" is not a number'],
  ])('%s %j -> reject %s', (kind, v, reason, detail) => {
    expect(rejectOf(mapper(kind).map(row(v)))).toEqual({ reason, column: 'amount', detail });
  });

  it.each<[SourceValue, string | undefined]>([
    ['GBP', 'GBP'],
    [' gbp ', 'GBP'],
    ['', undefined],
    [null, undefined],
  ])('currency %j -> %j', (cur, code) => {
    expect(okEvent(mapper('decimal').map(row('1.00', cur))).value_currency).toBe(code);
  });
  it.each<SourceValue>(['XYZ', 'pounds', '£', 826])('currency %j -> reject', (cur) => {
    expect(rejectOf(mapper('decimal').map(row('1.00', cur)))).toMatchObject({ reason: 'invalid_currency', column: 'cur' });
  });
});

describe('rule 6: properties', () => {
  it.each<[string, SourceValue, unknown]>([
    ['text', 'WHITE METAL LANTERN', 'WHITE METAL LANTERN'],
    ['text', 'IVORY KNITTED MUG COSY ', 'IVORY KNITTED MUG COSY '], // trailing space kept: the warehouse's value
    ['text', '', undefined], // "" is unset in Klaviyo: left out
    ['text', '  ', '  '],
    ['text', '{"color":"red","n":[1,2]}', { color: 'red', n: [1, 2] }],
    ['text', ' [1, {"a": null}] ', [1, { a: null }]],
    ['text', '{not json}', '{not json}'],
    ['text', '[RED] mug', '[RED] mug'],
    ['text', '12', '12'], // text stays text (zip codes)
    ['text', '{"id":12345678901234567890,"p":0.1,"q":1.0000000000000000001}', { id: '12345678901234567890', p: 0.1, q: '1.0000000000000000001' }],
    ['json', '{"a":1}', { a: 1 }],
    ['json', '"just text"', 'just text'],
    ['json', '42', 42],
    ['json', 'null', undefined],
    ['json', '{"a":1,"a":2}', { a: 2 }],
    ['json', '[9007199254740993]', ['9007199254740993']],
    ['integer', 6, 6],
    ['integer', -12, -12],
    ['integer', 0, 0], // 0 is a real value: sent
    ['integer', '12345678901234567890', '12345678901234567890'],
    ['decimal', '2.55', 2.55],
    ['decimal', '3.00', 3],
    ['decimal', '12345678901234567.89', '12345678901234567.89'],
    ['decimal', '9007199254740992.0', '9007199254740992.0'], // exact, but past 2^53 - 1: text
    ['float', 2.1, 2.1],
    ['float', 1e300, '1e+300'],
    ['float', NaN, 'NaN'],
    ['float', -Infinity, '-Infinity'],
    ['boolean', true, true],
    ['boolean', false, false],
    ['timestamp_tz', '2024-05-01T10:00:00.123456Z', '2024-05-01T10:00:00.123456Z'],
    ['timestamp_ntz', '2024-05-01T10:00:00.123456', '2024-05-01T10:00:00.123456Z'],
    ['date', '2024-05-01', '2024-05-01'],
    ['time', '10:00:00', '10:00:00'],
    ['binary', 'deadbeef', 'deadbeef'],
    ['structured', { a: [1, 2], b: { c: 'x' } }, { a: [1, 2], b: { c: 'x' } }],
    ['structured', [1.5, 2 ** 60, -0], [1.5, '1152921504606847000', 0]], // a double past 2^53 as its JSON text
    ['other', '1 day', '1 day'],
  ])('%s %j -> %j', (kind, v, expected) => {
    const c = compileMapper(syncOf(), cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text', `p:${kind}`), now);
    const e = okEvent(c.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', v]));
    expect(e.properties).toEqual(expected === undefined ? {} : { p: expected });
  });

  it('NTZ timestamp properties are read in the sync zone', () => {
    const c = compileMapper(syncOf({ options: { timestamp_zone: 'Europe/London' } }), cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text', 'shipped_at:timestamp_ntz'), now);
    expect(okEvent(c.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', '2024-07-01T10:00:00.000001'])).properties).toEqual({ shipped_at: '2024-07-01T09:00:00.000001Z' });
  });

  it('NULLs are left out, ___ nests, every unmapped column is a property under its own name', () => {
    const c = compileMapper(
      syncOf(),
      cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text', 'ship___city:text', 'ship___geo___lat:float', 'ship___geo___lng:float', 'Note:text', 'gift:boolean', 'a____b:text'),
      now,
    );
    expect(c.propertyColumns).toEqual(['ship___city', 'ship___geo___lat', 'ship___geo___lng', 'Note', 'gift', 'a____b']);
    expect(okEvent(c.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', 'Leeds', 53.8, -1.55, null, false, 'x'])).properties).toEqual({
      ship: { city: 'Leeds', geo: { lat: 53.8, lng: -1.55 } },
      gift: false,
      a: { _b: 'x' },
    });
    expect(okEvent(c.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', null, null, null, null, null, null])).properties).toEqual({});
  });

  it('two columns writing the same property are a mapping error, not a per-row surprise', () => {
    expect(() => compileMapper(syncOf(), cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text', 'ship:json', 'ship___city:text'), now)).toThrow(
      new MappingError('columns "ship" and "ship___city" of events.orders would both write property "ship.city"; rename one of them in a view'),
    );
  });
  it('a missing mapped column is named with the columns that exist', () => {
    expect(() => compileMapper(syncOf({ mapping: { value: 'total' } }), cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text'), now)).toThrow(
      new MappingError('column "total" mapped as value does not exist in events.orders (columns: ts, updated_at, email)'),
    );
  });
  it('matches mapped columns case-insensitively when the warehouse upper-cases names', () => {
    const c = compileMapper(syncOf(), cols('TS:timestamp_ntz', 'UPDATED_AT:timestamp_ntz', 'EMAIL:text', 'SKU:text'), now);
    expect(okEvent(c.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', 'MUG'])).properties).toEqual({ SKU: 'MUG' });
  });
});

describe("rule 7: Klaviyo's limits, rejected never cut", () => {
  const mapper = (...extra: string[]) => compileMapper(syncOf(), cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text', ...extra), now);
  const row = (...values: SourceValue[]) => ['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', ...values];

  it('300 properties pass, 301 are rejected', () => {
    const names = Array.from({ length: 301 }, (_, i) => `p${i}:integer`);
    const c = mapper(...names);
    const values = Array.from({ length: 301 }, (_, i) => i);
    expect(rejectOf(c.map(row(...values)))).toEqual({ reason: 'property_limit', detail: '301 properties; Klaviyo accepts at most 300 per event (map fewer columns, or group some under a___b names)' });
    expect(Object.keys(okEvent(c.map(row(...values.slice(0, 300), null))).properties)).toHaveLength(300);
  });
  it('a string of 100 KB passes, one byte more is rejected', () => {
    const c = mapper('doc:text');
    expect(okEvent(c.map(row('x'.repeat(102_400)))).properties.doc).toHaveLength(102_400);
    expect(rejectOf(c.map(row('é'.repeat(51_201))))).toEqual({ reason: 'string_too_long', column: 'doc', detail: 'properties.doc is 102,402 bytes of text; Klaviyo allows 102,400 (100 KB) per string' });
  });
  it('4,000 array items pass, 4,001 are rejected', () => {
    const c = mapper('items:json');
    expect(okEvent(c.map(row(JSON.stringify(Array(4000).fill(1))))).properties.items).toHaveLength(4000);
    expect(rejectOf(c.map(row(JSON.stringify({ lines: Array(4001).fill(1) }))))).toEqual({ reason: 'array_too_long', column: 'items', detail: 'properties.items.lines has 4,001 items; Klaviyo allows 4,000 per array' });
  });
  it('10 levels pass (the properties object is level 1), 11 are rejected', () => {
    const c = mapper('deep:json', 'x___y:integer');
    const nest = (n: number): unknown => (n === 0 ? 1 : { k: nest(n - 1) });
    expect(okEvent(c.map(row(JSON.stringify(nest(9)), 1))).properties.deep).toEqual(nest(9));
    expect(rejectOf(c.map(row(JSON.stringify(nest(10)), 1)))).toEqual({
      reason: 'nesting_too_deep',
      column: 'deep',
      detail: 'properties.deep.k.k.k.k.k.k.k.k.k is nested 11 levels deep (counting the properties object); Klaviyo allows 10',
    });
    expect(() => mapper('a___b___c___d___e___f___g___h___i___j___k:integer')).toThrow(/nests 11 levels by "___"; Klaviyo accepts at most 10 levels/);
  });
  it('the event with its profile must fit one 5 MB request', () => {
    const names = Array.from({ length: 53 }, (_, i) => `doc${i}:text`);
    const c = mapper(...names);
    const r = rejectOf(c.map(row(...Array(53).fill('y'.repeat(100_000)))));
    expect(r.reason).toBe('payload_too_large');
    expect(r.detail).toMatch(/^the event needs a 5,30\d,\d\d\d-byte request; Klaviyo accepts at most 5,242,880 \(5 MB\)$/);
    expect(Object.keys(okEvent(c.map(row(...Array(52).fill('y'.repeat(100_000)), null))).properties)).toHaveLength(52);
  });
});

describe('rule 8 and pitfall 9: a reject never throws and says why', () => {
  it('a NULL change timestamp is a reject of its own', () => {
    const c = compileMapper(syncOf(), cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text'), now);
    expect(rejectOf(c.map(['2025-01-01T00:00:00.000000', null, 'a@b.co']))).toEqual({
      reason: 'null_change_timestamp',
      column: 'updated_at',
      detail: 'change timestamp column "updated_at" is NULL: the row has no place in the incremental order and is not loaded',
    });
  });
  it('values of a type the kind never carries are still mapped or rejected, never thrown', () => {
    const c = compileMapper(syncOf({ mapping: { value: 'v' } }), cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text', 'v:decimal', 'p:integer'), now);
    expect(rejectOf(c.map([12 as unknown as string, UPDATED, 'a@b.co', null, null])).reason).toBe('invalid_timestamp');
    expect(rejectOf(c.map(['2025-01-01T00:00:00.000000', UPDATED, { email: 1 } as unknown as string, null, null])).reason).toBe('invalid_email');
    expect(okEvent(c.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', 3 as unknown as string, { x: 1n } as unknown as number])).properties).toEqual({ p: { x: '1' } });
  });
  it('the clock is read per row: NOW moves the upper bound', () => {
    let t = NOW;
    const c = compileMapper(syncOf(), cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text'), () => t);
    const r = ['2027-06-01T00:00:00.000000', UPDATED, 'a@b.co'];
    expect(rejectOf(c.map(r)).reason).toBe('timestamp_out_of_range');
    t = Date.UTC(2026, 6, 1);
    expect(okEvent(c.map(r)).time).toBe('2027-06-01T00:00:00.000Z');
  });
});

describe('event time text', () => {
  it('formatEventTime writes exactly what Date#toISOString writes, for every millisecond of the accepted range', async () => {
    const fc = (await import('fast-check')).default;
    const { formatEventTime } = await import('../mapping/time.ts');
    fc.assert(fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (ms) => formatEventTime(ms) === new Date(ms).toISOString()), { numRuns: 20_000 });
    for (const ms of [0, Date.UTC(1990, 0, 1), Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(2100, 2, 1), 253_402_300_799_999]) {
      expect(formatEventTime(ms)).toBe(new Date(ms).toISOString());
    }
  });
});

describe('zone arithmetic (ZoneClock) against Luxon', () => {
  it('every wall-clock time reads back to its instant; a repeated hour reads as the earlier instant', async () => {
    const fc = (await import('fast-check')).default;
    const { DateTime } = await import('luxon');
    const { ZoneClock } = await import('../mapping/time.ts');
    for (const zone of ['Europe/London', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/Santiago', 'Pacific/Apia']) {
      const clock = new ZoneClock(zone);
      fc.assert(
        fc.property(fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2030, 0, 1) }), (t) => {
          const local = DateTime.fromMillis(t, { zone });
          const wall = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second, local.millisecond);
          const back = clock.toUtc(wall);
          const again = DateTime.fromMillis(back, { zone });
          // the instant found shows the same wall clock, and is t or an earlier occurrence of it
          expect(Date.UTC(again.year, again.month - 1, again.day, again.hour, again.minute, again.second, again.millisecond)).toBe(wall);
          expect(back <= t).toBe(true);
          if (back < t) expect(t - back).toBeLessThanOrEqual(3 * 3_600_000);
        }),
        { numRuns: 3000 },
      );
    }
  });
});

describe('property names that collide with JavaScript object internals', () => {
  it('__proto__, constructor and toString are ordinary property names', () => {
    const c = compileMapper(
      syncOf(),
      cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text', '__proto__:text', 'constructor:integer', 'meta___toString___x:text', 'doc:json', 's:structured'),
      now,
    );
    const e = okEvent(c.map(['2025-01-01T00:00:00.000000', UPDATED, 'a@b.co', 'p', 7, 'y', '{"__proto__":{"a":-0}}', JSON.parse('{"__proto__":1}')]));
    expect(JSON.stringify(e.properties)).toBe('{"__proto__":"p","constructor":7,"meta":{"toString":{"x":"y"}},"doc":{"__proto__":{"a":0}},"s":{"__proto__":1}}');
    expect(Object.getPrototypeOf(e.properties)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).x).toBeUndefined(); // nothing leaked into Object.prototype
  });
});

describe('the request limit counts the profile too', () => {
  it('a 90 KB external_id plus properties just under 5 MB is rejected as payload_too_large', () => {
    const names = Array.from({ length: 51 }, (_, i) => `doc${i}:text`);
    const c = compileMapper(syncOf({ mapping: { profile: { external_id: 'cid' } } }), cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'cid:text', ...names), now);
    const docs = Array(51).fill('y'.repeat(101_000)); // 5,151,000 bytes of properties
    expect(okEvent(c.map(['2025-01-01T00:00:00.000000', UPDATED, 'c1', ...docs])).profile).toEqual({ external_id: 'c1' });
    const r = rejectOf(c.map(['2025-01-01T00:00:00.000000', UPDATED, 'c'.repeat(92_000), ...docs]));
    expect(r.reason).toBe('payload_too_large');
  });
});

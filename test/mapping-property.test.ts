/**
 * Property-based: for arbitrary values of every column kind (and values of the wrong JS type), mapping
 * never throws, always returns an event or a reject with a known reason, and every event it returns
 * passes Klaviyo's limits, checked here independently of `mapping/limits.ts`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileMapper } from '../mapping/map-row.ts';
import type { ColumnKind, SourceColumn, SourceValue } from '../activities/warehouse/types.ts';
import type { KlaviyoEvent, RejectReason } from '../mapping/types.ts';
import { wireEvent } from '../loading/bulk.ts';
import { cols, NOW, syncOf } from './helpers/mapping.ts';

const REASONS: ReadonlySet<RejectReason> = new Set<RejectReason>([
  'missing_metric', 'metric_too_long', 'invalid_timestamp', 'timestamp_out_of_range', 'missing_identifier', 'invalid_email',
  'invalid_phone', 'invalid_external_id', 'invalid_profile_id', 'invalid_unique_id', 'invalid_value', 'inexact_value',
  'invalid_currency', 'property_limit', 'string_too_long', 'array_too_long', 'nesting_too_deep', 'integer_out_of_range',
  'payload_too_large', 'null_change_timestamp',
]);

const pad = (n: number, w: number) => String(n).padStart(w, '0');
const instant = fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2200, 0, 1) });
const inRange = fc.integer({ min: Date.UTC(1990, 0, 2), max: NOW + 300 * 86_400_000 });
const micros = fc.integer({ min: 0, max: 999_999 });
const wallIn = fc.tuple(inRange, micros).map(([ms, us]) => `${new Date(ms).toISOString().slice(0, 19)}.${pad(us, 6)}`);
/** An event time: mostly inside Klaviyo's range in the column's own form, else anything of the kind. */
function eventTimeOf(kind: ColumnKind): fc.Arbitrary<SourceValue> {
  const good: Record<string, fc.Arbitrary<SourceValue>> = {
    timestamp_ntz: wallIn,
    timestamp_tz: wallIn.map((t) => `${t}Z`),
    date: inRange.map((ms) => new Date(ms).toISOString().slice(0, 10)),
    text: fc.oneof(wallIn, wallIn.map((t) => `${t.slice(0, 19)}+05:30`), inRange.map((ms) => new Date(ms).toISOString().slice(0, 10))),
  };
  return fc.oneof({ weight: 8, arbitrary: good[kind] }, { weight: 2, arbitrary: valueOf(kind) });
}
const huge = fc.oneof(
  fc.constant('x'.repeat(102_401)),
  fc.constant('é'.repeat(51_200)),
  fc.constant(JSON.stringify(Array(4001).fill(0))),
  fc.constant(JSON.stringify(Array(4000).fill('a'))),
  fc.constant('{"a":'.repeat(10) + '1' + '}'.repeat(10)),
  fc.constant('[[[[[[[[[[1]]]]]]]]]]'),
);
const wallText = fc.tuple(instant, micros).map(([ms, us]) => `${new Date(ms).toISOString().slice(0, 19)}.${pad(us, 6)}`);
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', ' ', '  x  ', 'null', '{', '[1,', '{"a":1}', '[1,2,3]', '0', '-0', '1e999', '17850.0', 'NaN', '２０２４-０１-０１'),
);
const decimalText = fc
  .tuple(fc.bigInt({ min: -(10n ** 38n), max: 10n ** 38n }), fc.integer({ min: 0, max: 20 }))
  .map(([digits, scale]) => {
    const neg = digits < 0n;
    const s = (neg ? -digits : digits).toString().padStart(scale + 1, '0');
    return `${neg ? '-' : ''}${scale ? `${s.slice(0, s.length - scale)}.${s.slice(s.length - scale)}` : s}`;
  });
const bigDigits = fc.bigInt({ min: -(2n ** 127n), max: 2n ** 127n }).map((b) => (b >= -(2n ** 53n - 1n) && b <= 2n ** 53n - 1n ? Number(b) : b.toString()));
const deepJson = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.jsonValue({ maxDepth: 2 }), fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), tie('node'), { maxKeys: 3 })),
})).node;

/** A value of the kind as the readers give it, sometimes NULL, sometimes a value of the wrong JS type. */
function valueOf(kind: ColumnKind): fc.Arbitrary<SourceValue> {
  const typed: Record<ColumnKind, fc.Arbitrary<SourceValue>> = {
    text: anyString,
    integer: bigDigits,
    decimal: decimalText,
    float: fc.double(),
    boolean: fc.boolean(),
    timestamp_ntz: wallText,
    timestamp_tz: wallText.map((t) => `${t}Z`),
    date: instant.map((ms) => new Date(ms).toISOString().slice(0, 10)),
    time: fc.tuple(fc.nat(23), fc.nat(59), fc.nat(59)).map(([h, m, s]) => `${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}`),
    json: fc.oneof({ weight: 10, arbitrary: fc.oneof(fc.json({ maxDepth: 4 }), deepJson.map((v) => JSON.stringify(v)), anyString) }, { weight: 1, arbitrary: huge }),
    structured: fc.oneof(deepJson as fc.Arbitrary<SourceValue>, fc.array(fc.double(), { maxLength: 4 })),
    binary: fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
    other: anyString,
  };
  return fc.oneof(
    { weight: 6, arbitrary: typed[kind] },
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.oneof(anyString, fc.double(), fc.boolean(), fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<SourceValue>) },
  );
}

const EMAILS = fc.oneof(fc.emailAddress(), anyString, fc.constantFrom(' Ann@Example.org ', 'a@b', `${'a'.repeat(95)}@x.io`));
const PHONES = fc.oneof(fc.constantFrom('+49 (0)30 1234567', '0044 20 1234 5678', '555-0100 ext. 2', '(202) 456-1111', '+442079460018', '12'), anyString, fc.integer());
const KIDS = fc.oneof(fc.constantFrom('01GDDKASAP8TKDDA2GRZDSVP4H', '01gddkasap8tkdda2grzdsvp4h', 'abc'), anyString);

const ALL_KINDS: ColumnKind[] = ['text', 'integer', 'decimal', 'float', 'boolean', 'timestamp_ntz', 'timestamp_tz', 'date', 'time', 'json', 'structured', 'binary', 'other'];
const TIME_KINDS: ColumnKind[] = ['timestamp_ntz', 'timestamp_tz', 'date', 'text'];

/** Checks a returned event against Klaviyo's rules, without using mapping/limits.ts. */
function assertSendable(e: KlaviyoEvent): void {
  // plain JSON: nothing lost or changed by serialisation (no undefined, NaN, bigint, class instances)
  expect(JSON.parse(JSON.stringify(e))).toEqual(e);
  expect([...e.metric].length).toBeGreaterThanOrEqual(1);
  expect([...e.metric].length).toBeLessThanOrEqual(127);
  expect(e.metric).toBe(e.metric.trim());
  expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const t = Date.parse(e.time);
  expect(t).toBeGreaterThanOrEqual(Date.UTC(1990, 0, 1));
  expect(t).toBeLessThanOrEqual(NOW + 365 * 86_400_000);
  expect(e.unique_id.length).toBeGreaterThanOrEqual(1);
  expect([...e.unique_id].length).toBeLessThanOrEqual(255);
  const p = e.profile;
  expect(Object.keys(p).length).toBeGreaterThanOrEqual(1);
  if (p.email !== undefined) expect(p.email.length < 100 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(p.email)).toBe(true);
  if (p.phone_number !== undefined) expect(p.phone_number).toMatch(/^\+[1-9]\d{6,14}$/);
  if (p.external_id !== undefined) expect(p.external_id).not.toBe('');
  if (p.id !== undefined) expect(p.id).toMatch(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
  expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThanOrEqual(95 * 1024);
  if (e.value !== undefined) expect(Number.isFinite(e.value)).toBe(true);
  if (e.value_currency !== undefined) expect(e.value_currency).toMatch(/^[A-Z]{3}$/);
  expect(Object.keys(e.properties).length).toBeLessThanOrEqual(300);
  const walk = (v: unknown, level: number): void => {
    if (typeof v === 'string') expect(Buffer.byteLength(v)).toBeLessThanOrEqual(102_400);
    else if (typeof v === 'number') {
      expect(Number.isFinite(v)).toBe(true);
      if (Number.isInteger(v)) expect(Number.isSafeInteger(v)).toBe(true); // exact; so within 64 bits
    } else if (v !== null && typeof v === 'object') {
      expect(level).toBeLessThanOrEqual(10);
      if (Array.isArray(v)) {
        expect(v.length).toBeLessThanOrEqual(4000);
        v.forEach((x) => walk(x, level + 1));
      } else for (const [k, x] of Object.entries(v)) {
        expect(Buffer.byteLength(k)).toBeLessThanOrEqual(102_400);
        walk(x, level + 1);
      }
    } else if (v !== null) expect(typeof v).toBe('boolean');
  };
  walk(e.properties, 1);
  expect(Buffer.byteLength(JSON.stringify({ profile: p, event: wireEvent(e, true) }))).toBeLessThanOrEqual(5 * 1024 * 1024);
}

const layout = fc.record({
  metricColumn: fc.boolean(),
  timeKind: fc.constantFrom(...TIME_KINDS),
  zone: fc.constantFrom('UTC', 'Europe/London', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham'),
  region: fc.constantFrom('US', 'GB', 'DE'),
  unique: fc.constantFrom<ColumnKind | null>(null, 'text', 'integer', 'float'),
  valueKind: fc.constantFrom<ColumnKind | null>(null, 'decimal', 'float', 'integer', 'text'),
  externalKind: fc.constantFrom<ColumnKind>('float', 'integer', 'text', 'decimal'),
});

describe('mapping arbitrary rows', () => {
  it('never throws; returns an event that passes every limit, or a reject with a known reason', () => {
    const seen = { events: 0, rejects: new Map<string, number>() };
    fc.assert(
      fc.property(layout, fc.context(), (l, ctx) => {
        const columns: SourceColumn[] = cols(
          `ts:${l.timeKind}`,
          'updated_at:timestamp_ntz',
          'email:text',
          'phone:text',
          `cid:${l.externalKind}`,
          'kid:text',
          'metric_name:text',
          `uid:${l.unique ?? 'text'}`,
          `amount:${l.valueKind ?? 'decimal'}`,
          'cur:text',
          ...ALL_KINDS.map((k) => `p_${k}:${k}`),
          ...ALL_KINDS.map((k) => `nest___${k}:${k}`),
          'nest___deep___x:json',
        );
        const sync = syncOf({
          metric: l.metricColumn ? { column: 'metric_name' } : { name: 'Placed Order' },
          mapping: {
            profile: { email: 'email', phone_number: 'phone', external_id: 'cid', klaviyo_id: 'kid' },
            unique_id: l.unique ? 'uid' : undefined,
            value: l.valueKind ? 'amount' : undefined,
            value_currency: 'cur',
          },
          options: { timestamp_zone: l.zone, default_phone_region: l.region },
        });
        const mapper = compileMapper(sync, columns, () => NOW);
        const rowArb = fc.tuple(
          eventTimeOf(l.timeKind),
          fc.oneof({ weight: 15, arbitrary: wallText }, { weight: 1, arbitrary: fc.constant(null) }),
          fc.oneof(EMAILS, fc.constant(null)),
          fc.oneof(PHONES, fc.constant(null)),
          valueOf(l.externalKind),
          fc.oneof(KIDS, fc.constant(null)),
          fc.oneof({ weight: 8, arbitrary: fc.constantFrom('Placed Order', ' Viewed Product ', 'Ordered Product') }, { weight: 2, arbitrary: fc.oneof(anyString, fc.constant(null)) }),
          valueOf(l.unique ?? 'text'),
          valueOf(l.valueKind ?? 'decimal'),
          fc.oneof(fc.constantFrom('GBP', 'usd', 'XXX', 'EURO', ''), anyString, fc.constant(null)),
          ...ALL_KINDS.map(valueOf),
          ...ALL_KINDS.map(valueOf),
          valueOf('json'),
        );
        fc.assert(
          fc.property(rowArb, (row) => {
            const r = mapper.map(row as SourceValue[]);
            expect(typeof r.key).toBe('string');
            expect(r.key.length).toBeGreaterThan(0);
            if (r.ok) {
              seen.events++;
              assertSendable(r.event);
              expect(r.event.unique_id).toBe(r.key);
            } else {
              seen.rejects.set(r.reject.reason, (seen.rejects.get(r.reject.reason) ?? 0) + 1);
              ctx.log(r.reject.reason);
              expect(REASONS.has(r.reject.reason), `unexpected reason ${r.reject.reason}: ${r.reject.detail}`).toBe(true);
              expect(r.reject.detail.length).toBeGreaterThan(0);
            }
          }),
          { numRuns: 60 },
        );
      }),
      { numRuns: 40 },
    );
    // Both outcomes are exercised: events (so the limits are checked on real output) and many reasons.
    console.log(`arbitrary rows: ${seen.events} events, rejects ${JSON.stringify(Object.fromEntries(seen.rejects))}`);
    expect(seen.events).toBeGreaterThan(300);
    expect(seen.rejects.size).toBeGreaterThanOrEqual(10);
  });

  it('accepts a good share of realistic rows (the generators are not all rejects)', () => {
    const columns = cols('ts:timestamp_ntz', 'updated_at:timestamp_ntz', 'email:text', 'qty:integer', 'price:decimal', 'meta:json');
    const mapper = compileMapper(syncOf({ mapping: { value: 'price' } }), columns, () => NOW);
    let ok = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1990, 0, 1), max: NOW }),
        fc.emailAddress(),
        fc.integer(),
        fc.tuple(fc.integer({ min: -1e6, max: 1e6 }), fc.integer({ min: 0, max: 99 })).map(([a, b]) => `${a}.${pad(b, 2)}`),
        fc.json({ maxDepth: 3 }),
        (ms, email, qty, price, meta) => {
          const r = mapper.map([`${new Date(ms).toISOString().slice(0, 23)}000`, '2026-01-01T00:00:00.000000', email, qty, price, meta]);
          if (r.ok) {
            ok++;
            assertSendable(r.event);
            expect(r.event.time).toBe(new Date(ms).toISOString());
            expect(r.event.value).toBe(Number(price));
          }
        },
      ),
      { numRuns: 500 },
    );
    // fast-check's emailAddress() yields some addresses validator rejects (e.g. dotless domains); most pass.
    expect(ok).toBeGreaterThan(400);
  });
});

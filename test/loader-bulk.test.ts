/**
 * Building Bulk Create Events requests (pure): limits measured on the exact wire body, grouping by
 * profile, deduplication, backfill, and the request-level rule that a (metric, unique_id) never repeats
 * inside one request.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildBatches, encodeEventJson, encodeEvents, packBatches, wireEvent, BULK_LIMITS, ENVELOPE_BYTES } from '../loading/bulk.ts';
import type { KlaviyoEvent } from '../mapping/types.ts';
import { validateBulkBody } from '../local-api/validate.ts';

function ev(i: number, over: Partial<KlaviyoEvent> = {}): KlaviyoEvent {
  return {
    metric: 'Placed Order',
    time: '2025-03-01T10:00:00.000Z',
    profile: { email: `c${i % 7}@shop.org` },
    unique_id: `o-${i}`,
    value: 10.5,
    value_currency: 'EUR',
    properties: { sku: `S${i}`, note: 'Grüße ✓' },
    ...over,
  };
}

type WireGroup = {
  type: string;
  attributes: {
    profile: { data: { type: string; id?: string; attributes: Record<string, string> } };
    events: { data: { type: string; attributes: Record<string, unknown> }[] };
  };
};
const groupsOf = (body: string): WireGroup[] => JSON.parse(body).data.attributes['events-bulk-create'].data;

describe('bulk request building', () => {
  it('writes the documented wire shape, groups events under their profile and reports exact byte sizes', () => {
    const events = [ev(0), ev(1), ev(7, { profile: { email: 'c0@shop.org' } }), ev(2, { profile: { id: '01HPROFILE', external_id: 'X-9' } })];
    const { batches, duplicates, oversize } = buildBatches(events, { backfill: false });
    expect(duplicates).toEqual([]);
    expect(oversize).toEqual([]);
    expect(batches).toHaveLength(1);
    const b = batches[0];
    const body = b.body();
    expect(Buffer.byteLength(body)).toBe(b.bytes);
    const parsed = JSON.parse(body);
    expect(parsed.data.type).toBe('event-bulk-create-job');
    const groups = groupsOf(body);
    // c0 has two events (o-0 and o-7) in one group, in page order; c1 one; the id profile one.
    expect(groups.map((g) => g.attributes.events.data.map((e) => e.attributes.unique_id))).toEqual([['o-0', 'o-7'], ['o-1'], ['o-2']]);
    expect(groups[0].attributes.profile).toEqual({ data: { type: 'profile', attributes: { email: 'c0@shop.org' } } });
    expect(groups[2].attributes.profile).toEqual({ data: { type: 'profile', id: '01HPROFILE', attributes: { external_id: 'X-9' } } });
    expect(groups[0].attributes.events.data[0]).toEqual({
      type: 'event',
      attributes: {
        properties: { sku: 'S0', note: 'Grüße ✓' },
        time: '2025-03-01T10:00:00.000Z',
        value: 10.5,
        value_currency: 'EUR',
        unique_id: 'o-0',
        metric: { data: { type: 'metric', attributes: { name: 'Placed Order' } } },
      },
    });
    // positions point at each item in the body.
    b.items.forEach((it, i) => {
      const [g, e] = b.positions[i];
      expect(groups[g].attributes.events.data[e].attributes.unique_id).toBe(it.event.unique_id);
    });
    // The local API (Klaviyo's rules) accepts the body as built.
    expect(validateBulkBody(parsed, { nowMs: Date.now(), revision: '2026-07-15' }).errors).toEqual([]);
  });

  it('writes each event exactly as its object form serialises (previews and size checks rely on it)', () => {
    for (const e of [ev(1), ev(2, { value: undefined, value_currency: undefined }), ev(3, { properties: { 'quote"d': ['a', { b: null }], n: 2 ** 60 } })]) {
      for (const backfill of [false, true]) expect(encodeEventJson(e, backfill)).toBe(JSON.stringify(wireEvent(e, backfill)));
    }
  });

  it('sets backfill: true on every event when asked, and only then', () => {
    const on = groupsOf(buildBatches([ev(0), ev(1)], { backfill: true }).batches[0].body());
    expect(on.flatMap((g) => g.attributes.events.data.map((e) => e.attributes.backfill))).toEqual([true, true]);
    const off = groupsOf(buildBatches([ev(0)], { backfill: false }).batches[0].body());
    expect('backfill' in off[0].attributes.events.data[0].attributes).toBe(false);
  });

  it('drops a repeat of (profile, metric, unique_id) inside the page and keeps the first', () => {
    const first = ev(1, { properties: { v: 'first' } });
    const again = ev(1, { properties: { v: 'again' } });
    const otherMetric = ev(1, { metric: 'Refunded Order' });
    const { batches, duplicates } = buildBatches([first, again, otherMetric], { backfill: false });
    expect(duplicates).toEqual([again]);
    expect(batches.flatMap((b) => b.items.map((i) => i.event))).toEqual([first, otherMetric]);
  });

  it('never puts one metric + unique_id twice in a request, even under different identifiers (they may be one profile)', () => {
    const a = ev(1, { profile: { email: 'ann@shop.org' } });
    const b = ev(1, { profile: { email: 'ann@shop.org', external_id: 'C-1' } });
    const c = ev(2, { profile: { email: 'ann@shop.org', external_id: 'C-1' } });
    const { batches, duplicates } = buildBatches([a, b, c], { backfill: false });
    expect(duplicates).toEqual([]);
    expect(batches.map((x) => x.items.map((i) => i.event))).toEqual([[a, c], [b]]);
  });

  it('splits at 1,000 events per request', () => {
    const events = Array.from({ length: 2500 }, (_, i) => ev(i, { profile: { email: `p${i}@shop.org` } }));
    const { batches } = buildBatches(events, { backfill: false });
    expect(batches.map((b) => b.items.length)).toEqual([1000, 1000, 500]);
    expect(BULK_LIMITS.maxEvents).toBe(1000);
  });

  it('keeps each request under the byte limit measured on the wire, and rejects an event too large alone', () => {
    const big = 'x'.repeat(3000);
    const events = Array.from({ length: 40 }, (_, i) => ev(i, { properties: { big } }));
    const huge = ev(99, { properties: { big: 'y'.repeat(20_000) } });
    const maxBytes = 16_000;
    const { batches, oversize } = buildBatches([...events, huge], { backfill: false, maxBytes });
    expect(oversize.map((o) => o.event)).toEqual([huge]);
    for (const b of batches) {
      expect(b.bytes).toBeLessThanOrEqual(maxBytes);
      expect(Buffer.byteLength(b.body())).toBe(b.bytes);
    }
    // Tightly packed: adding the next request's first event would have passed the limit.
    for (let i = 0; i + 1 < batches.length; i++) expect(batches[i].bytes + batches[i + 1].items[0].bytes).toBeGreaterThan(maxBytes - 400);
    expect(batches.flatMap((b) => b.items.map((it) => it.event.unique_id)).sort()).toEqual(events.map((e) => e.unique_id).sort());
  });

  it('serialises each event once: re-packing reuses the fragments', () => {
    const { items } = encodeEvents([ev(0), ev(1), ev(2)], { backfill: false });
    const again = packBatches(items.slice(1)).batches[0];
    expect(again.items[0]).toBe(items[1]);
    expect(Buffer.byteLength(again.body())).toBe(again.bytes);
    expect(again.bytes).toBeGreaterThan(ENVELOPE_BYTES);
  });

  it('for any events: every unique event is in exactly one request, limits hold, bytes are exact', () => {
    const arbEvent = fc.record({
      metric: fc.constantFrom('Placed Order', 'Viewed Product', 'Ünïcödé ✓'),
      time: fc.constant('2025-01-01T00:00:00Z'),
      profile: fc.oneof(
        fc.record({ email: fc.constantFrom('a@x.org', 'b@x.org', 'c@x.org') }),
        fc.record({ external_id: fc.string({ minLength: 1, maxLength: 5 }) }),
        fc.record({ id: fc.constantFrom('P1', 'P2'), phone_number: fc.constantFrom('+441234567890', '+15551234567') }),
      ),
      unique_id: fc.string({ minLength: 1, maxLength: 4 }),
      properties: fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 200 }), fc.integer(), fc.boolean())),
    }) as fc.Arbitrary<KlaviyoEvent>;
    fc.assert(
      fc.property(fc.array(arbEvent, { maxLength: 120 }), fc.integer({ min: 1, max: 17 }), fc.integer({ min: 700, max: 6000 }), (events, maxEvents, maxBytes) => {
        const { batches, duplicates, oversize } = buildBatches(events, { backfill: false, maxEvents, maxBytes });
        const sent = batches.flatMap((b) => b.items.map((i) => i.event));
        expect(sent.length + duplicates.length + oversize.length).toBe(events.length);
        const key = (e: KlaviyoEvent) => JSON.stringify([e.profile.email, e.profile.phone_number, e.profile.external_id, e.profile.id, e.metric, e.unique_id]);
        expect(new Set(sent.map(key)).size).toBe(sent.length);
        for (const d of duplicates) expect(sent.map(key)).toContain(key(d));
        for (const b of batches) {
          expect(b.items.length).toBeLessThanOrEqual(maxEvents);
          expect(b.bytes).toBeLessThanOrEqual(maxBytes);
          const body = b.body();
          expect(Buffer.byteLength(body)).toBe(b.bytes);
          const ids = b.items.map((i) => `${i.event.metric}|${i.event.unique_id}`);
          expect(new Set(ids).size).toBe(ids.length);
          const groups = groupsOf(body);
          const profiles = groups.map((g) => JSON.stringify(g.attributes.profile));
          expect(new Set(profiles).size).toBe(profiles.length);
        }
      }),
      { numRuns: 200 },
    );
  });
});

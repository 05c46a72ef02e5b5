/**
 * Real messy data: lines of the Online Retail data set (../shared/data/online-retail) copied as
 * literals, each with its exact event or reject, then the whole file (541,909 lines) mapped and counted.
 */
import { describe, expect, it } from 'vitest';
import { compileMapper } from '../mapping/map-row.ts';
import type { KlaviyoEvent } from '../mapping/types.ts';
import { now } from './helpers/mapping.ts';
import { RETAIL_COLUMNS, RETAIL_SYNC, retailLines, retailRow } from './helpers/retail.ts';

const mapper = compileMapper(RETAIL_SYNC, RETAIL_COLUMNS, now);
const HASH = /^[A-Za-z0-9_-]{43}$/;

describe('Online Retail lines (literal copies of the file)', () => {
  it.each<[string, string, Omit<KlaviyoEvent, 'unique_id'>]>([
    [
      'float customer id 17850.0 becomes external_id 17850; winter time is GMT',
      '536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom',
      {
        metric: 'Ordered Product',
        time: '2010-12-01T08:26:00.000Z',
        profile: { external_id: '17850' },
        value: 2.55,
        properties: { InvoiceNo: '536365', StockCode: '85123A', Description: 'WHITE HANGING HEART T-LIGHT HOLDER', Quantity: 6, Country: 'United Kingdom' },
      },
    ],
    [
      'a trailing space in the description is kept as the warehouse has it',
      "536367,22745,POPPY'S PLAYHOUSE BEDROOM ,6,2010-12-01 08:34:00,2.1,13047.0,United Kingdom",
      {
        metric: 'Ordered Product',
        time: '2010-12-01T08:34:00.000Z',
        profile: { external_id: '13047' },
        value: 2.1,
        properties: { InvoiceNo: '536367', StockCode: '22745', Description: "POPPY'S PLAYHOUSE BEDROOM ", Quantity: 6, Country: 'United Kingdom' },
      },
    ],
    [
      'a cancellation: invoice C..., negative quantity, still an event',
      'C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom',
      {
        metric: 'Ordered Product',
        time: '2010-12-01T09:41:00.000Z',
        profile: { external_id: '14527' },
        value: 27.5,
        properties: { InvoiceNo: 'C536379', StockCode: 'D', Description: 'Discount', Quantity: -1, Country: 'United Kingdom' },
      },
    ],
    [
      'quoted description with a comma and a trailing space',
      '536394,21506,"FANCY FONT BIRTHDAY CARD, ",24,2010-12-01 10:39:00,0.42,13408.0,United Kingdom',
      {
        metric: 'Ordered Product',
        time: '2010-12-01T10:39:00.000Z',
        profile: { external_id: '13408' },
        value: 0.42,
        properties: { InvoiceNo: '536394', StockCode: '21506', Description: 'FANCY FONT BIRTHDAY CARD, ', Quantity: 24, Country: 'United Kingdom' },
      },
    ],
    [
      'doubled quotes inside a quoted description',
      '536477,22041,"RECORD FRAME 7"" SINGLE SIZE ",48,2010-12-01 12:27:00,2.1,16210.0,United Kingdom',
      {
        metric: 'Ordered Product',
        time: '2010-12-01T12:27:00.000Z',
        profile: { external_id: '16210' },
        value: 2.1,
        properties: { InvoiceNo: '536477', StockCode: '22041', Description: 'RECORD FRAME 7" SINGLE SIZE ', Quantity: 48, Country: 'United Kingdom' },
      },
    ],
    [
      'summer time: the zone-less invoice date is read in Europe/London (BST), one hour ahead of UTC',
      '555156,23299,FOOD COVER WITH BEADS SET 2 ,6,2011-06-01 07:37:00,3.75,15643.0,United Kingdom',
      {
        metric: 'Ordered Product',
        time: '2011-06-01T06:37:00.000Z',
        profile: { external_id: '15643' },
        value: 3.75,
        properties: { InvoiceNo: '555156', StockCode: '23299', Description: 'FOOD COVER WITH BEADS SET 2 ', Quantity: 6, Country: 'United Kingdom' },
      },
    ],
  ])('%s', (_name, line, expected) => {
    const r = mapper.map(retailRow(line));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const { unique_id, ...rest } = r.event;
    expect(rest).toEqual(expected);
    expect(unique_id).toMatch(HASH);
    expect(r.key).toBe(unique_id);
    expect(r.warnings).toBeUndefined();
  });

  it('a line without CustomerID (and an empty description, price 0.0) is rejected as missing_identifier', () => {
    expect(mapper.map(retailRow('536414,22139,,56,2010-12-01 11:52:00,0.0,,United Kingdom'))).toEqual({
      ok: false,
      key: expect.stringMatching(HASH),
      reject: { reason: 'missing_identifier', column: 'CustomerID', detail: 'no profile identifier: "CustomerID" is NULL or empty' },
    });
  });

  it('an empty description read as "" (not NULL) is left out like NULL', () => {
    const row = retailRow('536414,22139,,56,2010-12-01 11:52:00,0.0,12346.0,United Kingdom');
    row[2] = '';
    const r = mapper.map(row);
    expect(r.ok && r.event.properties).toEqual({ InvoiceNo: '536414', StockCode: '22139', Quantity: 56, Country: 'United Kingdom' });
    expect(r.ok && r.event.value).toBe(0);
  });

  it('two lines identical in every column get one unique_id; a re-load (new loaded_at) keeps it', () => {
    const line = '536409,22866,HAND WARMER SCOTTY DOG DESIGN,1,2010-12-01 11:45:00,2.1,17908.0,United Kingdom';
    const a = mapper.map(retailRow(line));
    const b = mapper.map(retailRow(line, '2013-05-05T00:00:00.000000'));
    expect(a.ok && b.ok && a.event.unique_id === b.event.unique_id).toBe(true);
    const other = mapper.map(retailRow(line.replace(',1,', ',2,')));
    expect(other.ok && a.ok && other.event.unique_id !== a.event.unique_id).toBe(true);
  });
});

describe('the whole Online Retail file', () => {
  it('maps all 541,909 lines: 135,080 rejected as missing_identifier, every other line an event, one id per distinct line', () => {
    const lines = retailLines();
    expect(lines).toHaveLength(541_909);
    const rejected: Record<string, number> = {};
    let events = 0;
    let negative = 0;
    let trailing = 0;
    const badIds: string[] = [];
    const ids = new Set<string>();
    const distinctLines = new Set<string>();
    for (const line of lines) {
      const r = mapper.map(retailRow(line));
      if (!r.ok) {
        rejected[r.reject.reason] = (rejected[r.reject.reason] ?? 0) + 1;
        continue;
      }
      events++;
      ids.add(r.event.unique_id);
      distinctLines.add(line);
      if ((r.event.properties.Quantity as number) < 0) negative++;
      if (((r.event.properties.Description as string | undefined) ?? '').endsWith(' ')) trailing++;
      if (!/^\d{5}$/.test(r.event.profile.external_id ?? '')) badIds.push(r.event.profile.external_id ?? '');
    }
    expect(badIds).toEqual([]);
    expect(rejected).toEqual({ missing_identifier: 135_080 });
    expect(events).toBe(406_829);
    // The derived id is one per distinct line content: identical lines (the data set repeats some) collapse.
    expect(ids.size).toBe(distinctLines.size);
    expect(ids.size).toBe(401_604);
    expect(negative).toBeGreaterThan(8_000); // cancellations with a customer
    expect(trailing).toBeGreaterThan(80_000);
  });
});

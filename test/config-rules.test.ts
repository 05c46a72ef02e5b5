/**
 * Validation rules beyond single corpus files: every problem of a file in one pass, names unique
 * across files, warnings that do not block, positions inside strings, the UTF-8 scanner against
 * TextDecoder, suggestions, time zones.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSyncs, loadSyncs } from '../config/discover.ts';
import { checkSyncText } from '../config/load.ts';
import { ConfigError, formatProblem } from '../config/problems.ts';
import { checkInterval, checkTimeZone } from '../config/schedule.ts';
import { firstInvalidUtf8 } from '../config/source.ts';
import { closest } from '../config/suggest.ts';
import { tempDir } from './helpers/duckdb.ts';

const GOOD = `name: orders
source:
  table: shop.orders
metric:
  name: Placed Order
mapping:
  event_timestamp: ordered_at
  change_timestamp: updated_at
  profile:
    email: email
`;

function problems(text: string, file = 'f.yaml'): string[] {
  return checkSyncText(file, text).problems.map(formatProblem);
}

describe('one pass reports every problem', () => {
  it('six independent mistakes in one file, in file order', () => {
    const text = `name: Orders
source:
  table: shop.orders
  tie_breaker: updated_at
metric:
  name: Placed Order
  column: event_name
mapping:
  event_timestamp: ordered_at
  change_timestamp: updated_at
  value: email
  profile:
    emial: email
    external_id: customer_id
schedule:
  cron: "0 9 * * MON-FRY"
  timezone: Europe/Pariss
options:
  page_size: 0
`;
    expect(problems(text)).toEqual([
      'f.yaml:1:7: name "Orders" is not valid: a sync name is 1 to 63 lower-case letters, digits, \'-\' or \'_\', starting with a letter or digit (it becomes the Temporal Schedule id); did you mean "orders"?',
      'f.yaml:4:16: source.tie_breaker must be a different column than mapping.change_timestamp: it orders rows that share a change timestamp',
      'f.yaml:7:3: metric: give either "name" (one metric for every row) or "column" (the metric name per row), not both',
      'f.yaml:13:5: unknown key "emial" in mapping.profile; did you mean "email"?',
      'f.yaml:16:22: schedule.cron: "FRY" in the day-of-week field is not a number or a weekday name (MON, Tue, ...)',
      'f.yaml:17:13: schedule.timezone: "Europe/Pariss" is not an IANA time zone name; did you mean "Europe/Paris"?',
      'f.yaml:19:14: options.page_size must be at least 1; got 0',
    ]);
  });

  it('a column mapped twice is reported where it is mapped the second time', () => {
    const text = GOOD.replace('    email: email\n', '    email: email\n    external_id: customer_id\n').replace('  profile:', '  value: customer_id\n  profile:');
    expect(problems(text)).toEqual(['f.yaml:12:18: column "customer_id" is already mapped to mapping.value (line 9); a column feeds one event field']);
  });

  it('column names compare case-insensitively (Snowflake folds unquoted names)', () => {
    expect(problems(GOOD.replace('change_timestamp: updated_at', 'change_timestamp: ORDERED_AT'))).toEqual([
      'f.yaml:8:21: mapping.change_timestamp is the same column as mapping.event_timestamp ("ORDERED_AT"): the change timestamp must be a different column, the one that records when the row was last inserted or changed (e.g. updated_at)',
    ]);
  });
});

describe('warnings', () => {
  it('are reported but leave the sync usable', () => {
    const text = `${GOOD}schedule:\n  interval: 1d\n  timezone: Europe/London\noptions:\n  settle_delay: 0s\n`;
    const r = checkSyncText('w.yaml', text);
    expect(r.config?.schedule).toEqual({ interval: '1d', timezone: 'Europe/London', paused: false });
    expect(r.problems.map(formatProblem)).toEqual([
      'w.yaml:13:13: warning: schedule.timezone has no effect on an interval (runs every 1d counted from the Unix epoch); use cron for runs at a wall-clock time in Europe/London',
      'w.yaml:15:17: warning: options.settle_delay is 0s: rows of transactions that commit while a run reads can be skipped for good; a few minutes is safe',
    ]);
  });

  it('day-of-month with day-of-week, and a column name with spaces around it', () => {
    const text = GOOD.replace('email: email', 'email: " email"') + 'schedule:\n  cron: 0 6 1 * MON\n';
    expect(problems(text)).toEqual([
      'f.yaml:10:12: warning: mapping.profile.email " email" starts or ends with spaces; column names rarely do',
      'f.yaml:12:9: warning: schedule.cron: both day-of-month and day-of-week are restricted: Temporal runs only on days matching both (classic cron runs on days matching either)',
    ]);
  });
});

describe('positions inside a cron string', () => {
  it.each([
    ['plain', 'cron: 0 9 * * MON-FRY', 21],
    ['double-quoted', 'cron: "0 9 * * MON-FRY"', 22],
    ['single-quoted', "cron: '0 9 * * MON-FRY'", 22],
    ['with leading spaces inside quotes', 'cron: "  0 9 * * MON-FRY"', 24],
  ])('%s', (_, line, column) => {
    expect(problems(`${GOOD}schedule:\n  ${line}\n`)).toEqual([`f.yaml:12:${column}: schedule.cron: "FRY" in the day-of-week field is not a number or a weekday name (MON, Tue, ...)`]);
  });
  it('an escape before the field: the start of the value', () => {
    expect(problems(`${GOOD}schedule:\n  cron: "\\x30 9 * * MON-FRY"\n`)).toEqual([
      'f.yaml:12:9: schedule.cron: "FRY" in the day-of-week field is not a number or a weekday name (MON, Tue, ...)',
    ]);
  });
  it('a folded multi-line value: the start of the value', () => {
    expect(problems(`${GOOD}schedule:\n  cron: >-\n    0 9 * *\n    MON-FRY\n`)).toEqual([
      'f.yaml:12:9: schedule.cron: "FRY" in the day-of-week field is not a number or a weekday name (MON, Tue, ...)',
    ]);
  });
});

describe('several files', () => {
  const dir = tempDir('dwh-import-syncs-');
  mkdirSync(join(dir, 'syncs'));
  const a = join(dir, 'syncs', 'a.yaml');
  const b = join(dir, 'syncs', 'b.yaml');
  const c = join(dir, 'syncs', 'c.yaml');
  writeFileSync(a, GOOD);
  writeFileSync(b, `# same name as a.yaml\n${GOOD}`);
  writeFileSync(c, GOOD.replace('orders', 'refunds').replace('page_size', 'x') + 'options:\n  page_size: many\n');
  writeFileSync(join(dir, 'syncs', 'notes.txt'), 'not a sync');
  writeFileSync(join(dir, 'syncs', '.hidden.yaml'), 'not: checked');

  it('names must be unique across files; every file is still checked', () => {
    const r = checkSyncs([join(dir, 'syncs'), a, join(dir, 'missing')]);
    expect(r.files.map((f) => f.file)).toEqual([a, b, c]);
    expect(r.problems.map(formatProblem)).toEqual([
      `${join(dir, 'missing')}:1:1: no such file or folder`,
      `${b}:2:7: sync name "orders" is already used by ${a}:1:7; each sync needs its own name (it is the Temporal Schedule id)`,
      `${c}:12:14: options.page_size must be a whole number; got the text "many"`,
    ]);
    expect(r.syncs.map((s) => s.sync.name)).toEqual(['orders']);
  });

  it('loadSyncs throws a ConfigError holding every problem', () => {
    let err: unknown;
    try {
      loadSyncs([join(dir, 'syncs')]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((p) => p.code)).toEqual(['duplicate-name', 'schema-type']);
  });
});

describe('UTF-8 scanner', () => {
  it('agrees with TextDecoder (fatal) on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        let valid = true;
        try {
          new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        } catch {
          valid = false;
        }
        const at = firstInvalidUtf8(bytes);
        expect(at === bytes.length).toBe(valid);
        if (!valid) {
          // Everything before the reported byte decodes.
          new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, at));
        }
      }),
      { numRuns: 3000 },
    );
  });
  it('rejects overlong forms and surrogates', () => {
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0xaf]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0);
    expect(firstInvalidUtf8(Buffer.from('héllo ✓ 𝄞', 'utf8'))).toBe(15);
  });
});

describe('suggestions and zones', () => {
  it('closest finds typos, case and separator variants, and nothing for unrelated words', () => {
    const keys = ['event_timestamp', 'change_timestamp', 'unique_id', 'value', 'value_currency', 'profile'];
    expect(closest('evnt_timestamp', keys)).toBe('event_timestamp');
    expect(closest('ChangeTimestamp', keys)).toBe('change_timestamp');
    expect(closest('unique-id', keys)).toBe('unique_id');
    expect(closest('currency', keys)).toBeUndefined();
    expect(closest('x'.repeat(500), keys)).toBeUndefined();
  });
  it('time zones: canonical names, aliases, wrong case, offsets, typos', () => {
    expect(checkTimeZone('Europe/London')).toBeUndefined();
    expect(checkTimeZone('UTC')).toBeUndefined();
    expect(checkTimeZone('US/Pacific')).toBeUndefined();
    expect(checkTimeZone('utc')).toBe('time zone "utc" must be written "UTC" (zone names are case-sensitive)');
    expect(checkTimeZone('+02:00')).toBe('time zone "+02:00" is a fixed offset, not an IANA zone name: use a place such as "Europe/Berlin", or "Etc/GMT-1" for UTC+1 (the sign is inverted)');
    expect(checkTimeZone('America/Sao_Paulo ')).toBe('"America/Sao_Paulo " is not an IANA time zone name; did you mean "America/Sao_Paulo"?');
    expect(checkTimeZone('Mars/Olympus_Mons')).toBe('"Mars/Olympus_Mons" is not an IANA time zone name (e.g. UTC, Europe/London, America/New_York)');
  });
  it('intervals', () => {
    expect(checkInterval('90s')).toEqual({ ok: true, seconds: 90 });
    expect(checkInterval('2h')).toEqual({ ok: true, seconds: 7200 });
    expect(checkInterval('0m')).toEqual({ ok: false, message: 'the interval must be at least 1s' });
    expect(checkInterval('400d')).toEqual({ ok: false, message: 'the interval must be at most 366d' });
  });
});

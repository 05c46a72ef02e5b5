/**
 * The corpus of invalid configuration files (issue 3): each file under test/fixtures/config/invalid*
 * holds one mistake, and its exact messages and positions are asserted here. Hostile input that is
 * too big to commit (a 10 MB file, a file just over the size limit) is generated. Every file is checked
 * through the same path as `dwh-import validate`; the time each takes is printed, not asserted
 * (`npx tsx bench/config-corpus.ts` prints the same figures outside the test runner).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkConnectionFile, checkSyncFile, checkSyncText } from '../config/load.ts';
import { MAX_FILE_BYTES } from '../config/source.ts';
import { tempDir } from './helpers/duckdb.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'config');
const timings: [string, number][] = [];

/** `line:column message` (with `warning: ` before warnings) of every problem of a file. */
function lines(check: (file: string) => { problems: { line: number; column: number; message: string; severity?: string }[]; config?: unknown }, file: string): string[] {
  const t0 = performance.now();
  const r = check(file);
  timings.push([file.startsWith(FIXTURES) ? file.slice(FIXTURES.length + 1) : basename(file), performance.now() - t0]);
  expect(r.config).toBeUndefined();
  return r.problems.map((p) => `${p.line}:${p.column} ${p.severity === 'warning' ? 'warning: ' : ''}${p.message}`);
}

const SYNC_CORPUS: Record<string, string[]> = {
  'bad-indentation.yaml': ['14:1 YAML syntax: All mapping items must start at the same column'],
  'billion-laughs.yaml': ['2:8 YAML aliases expand to too much data (more than 100 alias expansions, as in a "billion laughs" document); write the values out instead'],
  'change-equals-event.yaml': ['8:21 mapping.change_timestamp is the same column as mapping.event_timestamp ("ordered_at"): the change timestamp must be a different column, the one that records when the row was last inserted or changed (e.g. updated_at)'],
  'column-mapped-twice.yaml': ['14:18 column "email" is already mapped to mapping.profile.email (line 13); a column feeds one event field'],
  'column-no-value.yaml': ['10:3 mapping.value has no value: give a column name or remove the key'],
  'complex-key.yaml': ['10:5 keys must be plain names; this key is a list or mapping'],
  'cron-and-interval.yaml': ['17:3 schedule: give either "cron" or "interval", not both'],
  'cron-bad-weekday-name.yaml': ['16:22 schedule.cron: "FRY" in the day-of-week field is not a number or a weekday name (MON, Tue, ...)'],
  'cron-every.yaml': ['16:10 schedule.cron: "@every" is not supported in cron: use schedule.interval (e.g. interval: 15m) instead'],
  'cron-hour-out-of-range.yaml': ['16:12 schedule.cron: 24 is out of range for the hour field (0-23)'],
  'cron-never-fires.yaml': ['16:9 schedule.cron: the cron expression "0 0 30 2 *" never fires (no such date)'],
  'cron-question-mark.yaml': ['16:14 schedule.cron: "?" in the day-of-month field is not a number ("?" is not supported by Temporal: use "*")'],
  'cron-six-fields.yaml': ['16:10 schedule.cron: a cron expression has 5 fields (minute hour day-of-month month day-of-week); this one has 6 (seconds and year fields are not supported here)'],
  'custom-tag.yaml': ['10:18 YAML tag "!column" is not supported in configuration files'],
  'deep-nesting.yaml': ['1:71 the YAML is nested more than 64 levels deep; a configuration file needs a few'],
  'duplicate-top-level-key.yaml': ['23:1 name is given twice (first at line 1, column 1): keep one'],
  'empty-profile.yaml': ['12:3 mapping.profile needs at least one profile identifier column: email, phone_number, external_id or klaviyo_id'],
  'empty.yaml': ['1:1 the file is empty: it holds no YAML content'],
  'field-given-twice.yaml': ['11:3 mapping.value is given twice (first at line 10, column 3); a field takes one column: keep one'],
  'interval-words.yaml': ['16:13 schedule.interval "1 hour" is not valid: a duration: a whole number followed by s, m, h or d, e.g. 90s, 5m, 2h, 1d'],
  'interval-zero.yaml': ['16:13 schedule.interval: the interval must be at least 1s'],
  'latin1-description.yaml': ['2:30 not valid UTF-8 text: byte 0xE9 at byte offset 46 (a Latin-1 or Windows-1252 file?); save the file as UTF-8'],
  'list-of-syncs.yaml': ['1:1 a sync file is one YAML mapping (key: value pairs) with name, source, metric and mapping; this file holds a list; put each sync in its own file'],
  'merge-key.yaml': ['7:3 merge keys ("<<") are not supported: write the keys out'],
  'metric-both.yaml': ['6:3 metric: give either "name" (one metric for every row) or "column" (the metric name per row), not both'],
  'metric-name-empty.yaml': ['5:9 metric.name must not be empty'],
  'metric-name-too-long.yaml': ['5:9 metric.name is 147 characters long; at most 127 are allowed'],
  'metric-neither.yaml': ['4:1 metric needs "name" (one metric for every row, e.g. name: Placed Order) or "column" (the column holding each row\'s metric name)'],
  'missing-change-timestamp.yaml': ['6:1 missing required key "change_timestamp" in mapping'],
  'missing-name.yaml': ['1:1 missing required key "name"'],
  'missing-profile.yaml': ['6:1 missing required key "profile" in mapping'],
  'missing-source.yaml': ['1:1 missing required key "source"'],
  'name-not-slug.yaml': ['1:7 name "Web Orders" is not valid: a sync name is 1 to 63 lower-case letters, digits, \'-\' or \'_\', starting with a letter or digit (it becomes the Temporal Schedule id); did you mean "web-orders"?'],
  'name-number.yaml': ['1:7 name must be a string; got the number 2024; put it in quotes if it is meant as text'],
  'name-too-long.yaml': ['1:7 name is 68 characters long; a sync name is at most 63 (it becomes the Temporal Schedule id)'],
  'only-comments.yaml': ['1:1 the file is empty: it holds no YAML content'],
  'page-size-fraction.yaml': ['19:14 options.page_size must be a whole number; got the number 12.5'],
  'page-size-text.yaml': ['19:14 options.page_size must be a whole number; got the text "1000"'],
  'page-size-too-large.yaml': ['19:14 options.page_size must be at most 100,000; got 1000000'],
  'page-size-zero.yaml': ['19:14 options.page_size must be at least 1; got 0'],
  'paused-text.yaml': ['18:11 schedule.paused must be true or false; got the text "yes"'],
  'phone-region-lower-case.yaml': ['22:25 options.default_phone_region "gb" is not valid: an ISO 3166-1 alpha-2 region code in capitals, e.g. US, GB, DE'],
  'phone-region-unknown.yaml': ['22:25 options.default_phone_region "UK" is not a region code phone numbers use; did you mean "GB"?'],
  'plain-text.yaml': ['1:1 a sync file is one YAML mapping (key: value pairs) with name, source, metric and mapping; this file holds the text "this is not a sync definition"'],
  'profile-as-list.yaml': ['13:5 mapping.profile must be a mapping (key: value pairs); got a list'],
  'settle-delay-words.yaml': ['20:17 options.settle_delay "5 minutes" is not valid: a duration: a whole number followed by s, m, h or d, e.g. 90s, 5m, 2h, 1d'],
  'source-not-mapping.yaml': ['2:9 source must be a mapping (key: value pairs); got the text "shop.orders"'],
  'tab-indentation.yaml': ['13:1 a tab is used for indentation; YAML indents with spaces only'],
  'table-empty-part.yaml': ['3:10 source.table: empty part in table name "shop..orders"'],
  'table-too-many-parts.yaml': ['3:10 source.table: table name "prod.analytics.shop.orders" must be table, schema.table or database.schema.table'],
  'tie-breaker-is-change-column.yaml': ['4:16 source.tie_breaker must be a different column than mapping.change_timestamp: it orders rows that share a change timestamp'],
  'timezone-offset.yaml': ['17:13 schedule.timezone: time zone "UTC+1" is a fixed offset, not an IANA zone name: use a place such as "Europe/Berlin", or "Etc/GMT-1" for UTC+1 (the sign is inverted)'],
  'timezone-unknown.yaml': ['17:13 schedule.timezone: "Europe/Londn" is not an IANA time zone name; did you mean "Europe/London"?'],
  'timezone-wrong-case.yaml': ['21:19 options.timestamp_zone: time zone "europe/berlin" must be written "Europe/Berlin" (zone names are case-sensitive)'],
  'two-documents.yaml': ['23:1 a second YAML document starts here ("---"); a file holds exactly one document: put each sync in its own file'],
  'unclosed-quote.yaml': ['16:9 this quoted string is never closed: add the closing "'],
  'undefined-alias.yaml': ['17:13 alias "*zone" refers to no anchor "&zone" defined before it'],
  'unknown-key-camel-case.yaml': ['7:3 unknown key "eventTimestamp" in mapping; did you mean "event_timestamp"?'],
  'unknown-key-misplaced.yaml': ['10:3 unknown key "email" in mapping; it belongs in "mapping.profile.email"'],
  'unknown-key-top-level-table.yaml': ['4:1 unknown key "table"; it belongs in "source.table"'],
  'unknown-key-typo.yaml': ['2:1 unknown key "descripton"; did you mean "description"?'],
  'utf16.yaml': ['1:1 the file is UTF-16 encoded; save it as UTF-8'],
};

const CONNECTION_CORPUS: Record<string, string[]> = {
  'account-is-url.yaml': ['2:10 account is the account identifier only (e.g. myorg-myaccount), not a URL or host name'],
  'duckdb-missing-path.yaml': [
    '2:1 missing required key "path"',
    '3:1 unknown key "file" (known keys: type, path)',
  ],
  'missing-type.yaml': ['1:1 missing required key "type"'],
  'password-env-is-a-value.yaml': ['5:17 auth.password_env is not valid: the name of an environment variable (letters, digits and \'_\', not starting with a digit), never the secret itself'],
  'password-inline.yaml': ['5:3 unknown key "password" in auth: secrets never go in configuration files; name the environment variable that holds it (auth.password_env, auth.private_key_passphrase_env) or a key file (auth.private_key_file)'],
  'two-auth-methods.yaml': ['6:3 auth: give either password_env or private_key_file, not both'],
  'unknown-type.yaml': ['1:7 type "snowflak" is not a known warehouse: use "duckdb" or "snowflake"; did you mean "snowflake"?'],
};

afterAll(() => {
  const rows = timings.sort((a, b) => b[1] - a[1]);
  console.log(`config corpus: ${rows.length} files, slowest ${rows.slice(0, 5).map(([f, ms]) => `${f} ${ms.toFixed(1)} ms`).join(', ')}`);
});

describe('invalid sync files', () => {
  it('the corpus has at least 40 files, each listed here', () => {
    const files = readdirSync(join(FIXTURES, 'invalid')).sort();
    expect(files.length).toBeGreaterThanOrEqual(40);
    expect(files).toEqual(Object.keys(SYNC_CORPUS).sort());
  });
  for (const [name, expected] of Object.entries(SYNC_CORPUS)) {
    it(name, () => {
      expect(lines(checkSyncFile, join(FIXTURES, 'invalid', name))).toEqual(expected);
    });
  }
});

describe('invalid connection files', () => {
  it('each file is listed here', () => {
    expect(readdirSync(join(FIXTURES, 'invalid-connection')).sort()).toEqual(Object.keys(CONNECTION_CORPUS).sort());
  });
  for (const [name, expected] of Object.entries(CONNECTION_CORPUS)) {
    it(name, () => {
      expect(lines(checkConnectionFile, join(FIXTURES, 'invalid-connection', name))).toEqual(expected);
    });
  }
});

describe('generated hostile input', () => {
  const dir = tempDir('dwh-import-corpus-');
  it('a 10 MB file is refused before it is read', () => {
    const file = join(dir, 'ten-megabytes.yaml');
    const text = `name: big\ndescription: "${'x'.repeat(10 * 1024 * 1024)}"\n`;
    writeFileSync(file, text);
    expect(text.length).toBe(10_485_786);
    expect(lines(checkSyncFile, file)).toEqual(['1:1 the file is 10,485,786 bytes; a configuration file may be at most 65,536 bytes (64 KiB)']);
  });
  it('a file one byte over the limit is refused, one at the limit is read', () => {
    const over = join(dir, 'over.yaml');
    writeFileSync(over, `# ${'x'.repeat(MAX_FILE_BYTES - 2)}\n`);
    expect(readFileSync(over).length).toBe(MAX_FILE_BYTES + 1);
    expect(lines(checkSyncFile, over)).toEqual(['1:1 the file is 65,537 bytes; a configuration file may be at most 65,536 bytes (64 KiB)']);
    const at = join(dir, 'at.yaml');
    writeFileSync(at, `# ${'x'.repeat(MAX_FILE_BYTES - 3)}\n`);
    expect(readFileSync(at).length).toBe(MAX_FILE_BYTES);
    expect(lines(checkSyncFile, at)).toEqual(['1:1 the file is empty: it holds no YAML content']);
  });
  it('thousands of unknown keys: the first 100 problems and a count of the rest', () => {
    let text = '';
    for (let i = 0; text.length < MAX_FILE_BYTES - 64; i++) text += `key_${i}: value\n`;
    const file = join(dir, 'many-keys.yaml');
    writeFileSync(file, text);
    const got = lines(checkSyncFile, file);
    expect(got).toHaveLength(101);
    expect(got.slice(0, 5)).toEqual([
      '1:1 missing required key "name"',
      '1:1 missing required key "source"',
      '1:1 missing required key "metric"',
      '1:1 missing required key "mapping"',
      '1:1 unknown key "key_0" (known keys: $schema, name, description, source, metric, mapping, schedule, options)'.replace('$schema, ', ''),
    ]);
    const keys = text.split('\n').length - 1;
    expect(got[100]).toBe(`96:1 ${keys + 4 - 100} more problems not shown`);
  });
  it('a bad byte inside a multi-byte character is placed on its line and column', () => {
    const file = join(dir, 'cut-utf8.yaml');
    // "é" is C3 A9; C3 followed by a space is invalid. Line 2, after "description: caf" (16 characters).
    writeFileSync(file, Buffer.concat([Buffer.from('name: cafe-orders\ndescription: caf'), Buffer.from([0xc3, 0x20]), Buffer.from('au lait\n')]));
    expect(lines(checkSyncFile, file)).toEqual([
      '2:17 not valid UTF-8 text: byte 0xC3 at byte offset 34 (a Latin-1 or Windows-1252 file?); save the file as UTF-8',
    ]);
  });
  it('a missing file and a folder are problems, not exceptions', () => {
    expect(lines(checkSyncFile, join(dir, 'nope.yaml'))).toEqual(['1:1 no such file']);
    expect(lines(checkSyncFile, dir)).toEqual(['1:1 is a folder, not a file']);
  });
});

/**
 * The pure parts of incremental reading (cursor literals, bounds, typed times) and the state store's
 * compare-and-set, log and ledger, on a real SQLite file. No server needed.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { StateStore } from '../activities/state/store.ts';
import { fractionDigits, readStart, settleBound, userTimeLiteral } from '../incremental/bounds.ts';
import {
  compareCursor,
  compareTs,
  formatLiteral,
  formatNanos,
  parseLiteral,
  roundLiteral,
  sameCursor,
  shiftLiteral,
  tsSortKey,
} from '../incremental/cursor.ts';
import { tempDir } from './helpers/duckdb.ts';

describe('canonical literals', () => {
  it('keep nanoseconds instead of truncating them to microseconds', () => {
    expect(formatNanos(1_704_067_200_000_001_500n)).toBe('2024-01-01T00:00:00.000001500');
    expect(parseLiteral('2024-01-01T00:00:00.000001500').nanos).toBe(1_704_067_200_000_001_500n);
    // Distinct nanosecond values are distinct cursors, in the right order.
    expect(compareTs('2024-01-01T00:00:00.000001500', '2024-01-01T00:00:00.000001700')).toBe(-1);
  });

  it('compare by value, not by the number of digits', () => {
    expect(compareTs('2024-01-01T00:00:00.5', '2024-01-01T00:00:00.500000000')).toBe(0);
    expect(compareTs('2024-01-01T00:00:00.123457', '2024-01-01T00:00:00.123456999')).toBe(1);
    expect(compareTs('2024-01-01T00:00:00.000000Z', '2023-12-31T23:59:59.999999Z')).toBe(1);
    expect(sameCursor({ ts: '2024-01-01T00:00:00.100000', key: null }, { ts: '2024-01-01T00:00:00.100000000', key: null })).toBe(true);
    expect(tsSortKey('2024-01-01T00:00:00.1Z')).toBe('2024-01-01T00:00:00.100000000');
    expect(tsSortKey('2024-01-01')).toBe('2024-01-01');
  });

  it('format dates before 1970 and shift across days keeping kind and digits', () => {
    expect(formatLiteral(-1n, 9)).toBe('1969-12-31T23:59:59.999999999');
    expect(shiftLiteral('2024-03-01T00:30:00.000000', -3600)).toBe('2024-02-29T23:30:00.000000');
    expect(shiftLiteral('2024-03-01T00:30:00.000000001Z', -3600)).toBe('2024-02-29T23:30:00.000000001Z');
    expect(shiftLiteral('2024-03-01', -3600)).toBe('2024-02-29'); // the day containing midnight - 1 h
  });

  it('keep years 0-99 and years past 9999 as they are (Date.UTC would read 0024 as 1924)', () => {
    expect(compareTs('0024-05-01T00:00:00.000000', '1924-05-01T00:00:00.000000')).toBe(-1);
    expect(shiftLiteral('0024-05-01T00:00:00.000000', -3600)).toBe('0024-04-30T23:00:00.000000');
    expect(tsSortKey('0099-01-01')).toBe('0099-01-01');
    // Outside 0000-9999 the text stays well-formed (extended ISO years), never a garbled time.
    expect(formatNanos(253_402_300_800_000_000_000n)).toBe('+010000-01-01T00:00:00.000000000');
  });

  it('round to a column precision in the safe direction', () => {
    expect(roundLiteral('2024-01-01T00:00:01.700000', 0, 'floor')).toBe('2024-01-01T00:00:01.000000');
    expect(roundLiteral('2024-01-01T00:00:01.700000', 0, 'ceil')).toBe('2024-01-01T00:00:02.000000');
    expect(roundLiteral('2024-01-01T00:00:01.000000', 0, 'ceil')).toBe('2024-01-01T00:00:01.000000');
    expect(roundLiteral('2024-01-01T00:00:01.123456789Z', 3, 'floor')).toBe('2024-01-01T00:00:01.123000000Z');
  });

  it('order keyed cursors as the warehouse does: inclusive first, NULL key next, numbers by value, text by UTF-8 bytes', () => {
    const ts = '2024-01-01T00:00:00.000000';
    expect(compareCursor({ ts, key: null, inclusive: true }, { ts, key: null }, 'text')).toBe(-1);
    expect(compareCursor({ ts, key: null }, { ts, key: 'a' }, 'text')).toBe(-1);
    expect(compareCursor({ ts, key: '9' }, { ts, key: '10' }, 'numeric')).toBe(-1);
    expect(compareCursor({ ts, key: '9007199254740993' }, { ts, key: '9007199254740992' }, 'numeric')).toBe(1);
    // U+FF5E sorts after U+1F600 in UTF-16 code units but before it in UTF-8 bytes.
    expect(compareCursor({ ts, key: '\uff5e' }, { ts, key: '\u{1f600}' }, 'text')).toBe(-1);
  });
});

describe('bounds', () => {
  const now = Date.UTC(2024, 6, 1, 12, 0, 0, 123); // 2024-07-01T12:00:00.123Z

  it('settle bound per kind: the instant in UTC, the wall clock in the zone, the last complete day in the zone', () => {
    expect(settleBound('timestamp_tz', now, 300, 'UTC')).toBe('2024-07-01T11:55:00.123000Z');
    expect(settleBound('timestamp_ntz', now, 300, 'America/New_York')).toBe('2024-07-01T07:55:00.123000');
    expect(settleBound('timestamp_ntz', now, 300, 'Asia/Tokyo')).toBe('2024-07-01T20:55:00.123000');
    expect(settleBound('date', now, 300, 'UTC')).toBe('2024-06-30');
    // 12:00 UTC is already 2 July in Kiribati (UTC+14): 1 July is complete there.
    expect(settleBound('date', now, 300, 'Pacific/Kiritimati')).toBe('2024-07-01');
    expect(() => settleBound('text', now, 0, 'UTC')).toThrow(/timestamp or date/);
    expect(() => settleBound('timestamp_ntz', now, 0, 'Mars/Olympus')).toThrow(/IANA/);
  });

  it('settle bound is rounded down to the column precision and has 9 digits for nanosecond columns', () => {
    expect(settleBound('timestamp_ntz', now, 0, 'UTC', 0)).toBe('2024-07-01T12:00:00.000000');
    expect(settleBound('timestamp_ntz', now, 0, 'UTC', 9)).toBe('2024-07-01T12:00:00.123000000');
  });

  it('fraction digits from declared types', () => {
    expect(['TIMESTAMP_S', 'TIMESTAMP_MS', 'TIMESTAMP', 'TIMESTAMP WITH TIME ZONE', 'TIMESTAMP_NS', 'TIMESTAMP_NTZ(9)', 'TIMESTAMP_LTZ(3)'].map(fractionDigits)).toEqual([
      0, 3, 6, 6, 9, 9, 3,
    ]);
  });

  it('lookback window start: shifted, exclusive, key dropped', () => {
    expect(readStart({ ts: '2024-07-01T10:00:00.000000', key: 'k9' }, 3600)).toEqual({ ts: '2024-07-01T09:00:00.000000', key: null });
    expect(readStart({ ts: '2024-07-01T10:00:00.000000', key: 'k9' }, 0)).toEqual({ ts: '2024-07-01T10:00:00.000000', key: 'k9' });
    expect(readStart(null, 3600)).toBeNull();
  });

  it('times typed by a person: zone-less read in the sync zone, offsets honoured, dates reduced to their day', () => {
    expect(userTimeLiteral('2024-05-01', 'timestamp_tz', 'Europe/Berlin')).toBe('2024-04-30T22:00:00.000000Z');
    expect(userTimeLiteral('2024-05-01', 'timestamp_ntz', 'Europe/Berlin')).toBe('2024-05-01T00:00:00.000000');
    expect(userTimeLiteral('2024-05-01T10:00:00Z', 'timestamp_ntz', 'Europe/Berlin')).toBe('2024-05-01T12:00:00.000000');
    expect(userTimeLiteral('2024-05-01 10:00:00.123456789', 'timestamp_ntz', 'UTC', 9)).toBe('2024-05-01T10:00:00.123456789');
    expect(userTimeLiteral('2024-05-01T23:30:00-05:00', 'date', 'UTC')).toBe('2024-05-02');
    expect(userTimeLiteral('2024-05-01', 'date', 'Asia/Tokyo')).toBe('2024-05-01');
    expect(() => userTimeLiteral('yesterday', 'timestamp_tz', 'UTC')).toThrow(/not a date or time/);
  });
});

describe('state store', () => {
  it('keeps each run\'s rejects: a later run rejecting the same row does not take it from the earlier one; an old store is migrated', () => {
    const path = join(tempDir(), 'state.sqlite');
    // A store of the earlier layout: one reject per (sync, row_key).
    const old = new Database(path);
    old.exec(`CREATE TABLE rejects (sync TEXT NOT NULL, row_key TEXT NOT NULL, reason TEXT NOT NULL, column_name TEXT, detail TEXT NOT NULL,
      run_id TEXT NOT NULL, row_json TEXT, recorded_at TEXT NOT NULL, PRIMARY KEY (sync, row_key));
      CREATE INDEX rejects_by_run ON rejects (sync, run_id);
      INSERT INTO rejects VALUES ('s', 'r0', 'invalid_email', 'email', 'bad', 'run-0', NULL, '2024-01-01T00:00:00.000Z')`);
    old.close();
    const s = new StateStore(path);
    expect(s.listRejects('s', { runId: 'run-0' }).map((r) => r.rowKey)).toEqual(['r0']);
    const rej = (rowKey: string, runId: string, reason = 'null_change_timestamp') => ({ sync: 's', rowKey, reason, detail: 'x', runId });
    s.recordRejects([rej('r1', 'run-1'), rej('r2', 'run-1', 'invalid_email')]);
    s.recordRejects([rej('r1', 'run-2'), rej('r0', 'run-2')]);
    s.recordRejects([rej('r1', 'run-2')]); // a retried page of the same run: recorded once
    expect(s.listRejects('s', { runId: 'run-1' }).map((r) => r.rowKey).sort()).toEqual(['r1', 'r2']);
    expect(s.listRejects('s', { runId: 'run-2' }).map((r) => r.rowKey).sort()).toEqual(['r0', 'r1']);
    // Without a run: each row once, with its latest reject.
    expect(s.listRejects('s').map((r) => `${r.rowKey}@${r.runId}`).sort()).toEqual(['r0@run-2', 'r1@run-2', 'r2@run-1']);
    expect(s.rejectCounts('s')).toEqual({ null_change_timestamp: 2, invalid_email: 1 });
    s.close();
  });

  const a = { ts: '2024-01-01T00:00:00.000000', key: '1' };
  const b = { ts: '2024-01-01T00:00:00.000000', key: '2' };
  const c = { ts: '2024-01-02T00:00:00.000000', key: '1' };

  it('moves a watermark only from the expected value; a run recognises its own commit, another run does not', () => {
    const s = new StateStore(join(tempDir(), 'state.sqlite'));
    expect(s.advanceWatermark('x', null, a, 'run-1')).toEqual({ status: 'advanced' });
    expect(s.advanceWatermark('x', null, a, 'run-1')).toEqual({ status: 'already' });
    // Another run with the same (stale) expectation: neither backwards nor ahead.
    expect(s.advanceWatermark('x', null, a, 'run-2')).toEqual({ status: 'conflict', actual: a, actualRunId: 'run-1' });
    expect(s.advanceWatermark('x', null, c, 'run-2')).toEqual({ status: 'conflict', actual: a, actualRunId: 'run-1' });
    expect(s.advanceWatermark('x', a, b, 'run-1')).toEqual({ status: 'advanced' });
    expect(s.getWatermark('x')?.cursor).toEqual(b);
    expect(s.watermarkLog('x').map((m) => [m.from, m.to, m.runId, m.reason])).toEqual([
      [null, a, 'run-1', 'commit'],
      [a, b, 'run-1', 'commit'],
    ]);
    s.close();
  });

  it('a reset moves it unconditionally, logs it, makes the next commit of a running run a conflict, and clears the ledger', () => {
    const s = new StateStore(join(tempDir(), 'state.sqlite'));
    s.advanceWatermark('x', null, c, 'run-1');
    s.recordSentEvents('x', [{ fp: 'e:1', ts: c.ts }]);
    const to = { ts: '2023-06-01T00:00:00.000000', key: null, inclusive: true };
    s.resetWatermark('x', to, 'reset by test');
    expect(s.getWatermark('x')).toMatchObject({ cursor: to, runId: null });
    expect(s.sentEventCount('x')).toBe(0);
    expect(s.advanceWatermark('x', c, { ...c, key: '9' }, 'run-1')).toMatchObject({ status: 'conflict', actualRunId: null });
    s.resetWatermark('x', null, 'clear');
    expect(s.getWatermark('x')).toBeNull();
    expect(s.watermarkLog('x').map((m) => [m.to, m.reason])).toEqual([
      [c, 'commit'],
      [to, 'reset by test'],
      [null, 'clear'],
    ]);
    s.close();
  });

  it('ledger: finds acknowledged fingerprints and forgets those behind a time', () => {
    const s = new StateStore(join(tempDir(), 'state.sqlite'));
    s.recordSentEvents('x', [
      { fp: 'e:old', ts: '2024-01-01T00:00:00.000000' },
      { fp: 'e:new', ts: '2024-01-02T00:00:00.5' },
    ]);
    expect([...s.sentEvents('x', ['e:old', 'e:new', 'e:none'])].sort()).toEqual(['e:new', 'e:old']);
    expect(s.sentEvents('y', ['e:old']).size).toBe(0);
    expect(s.forgetSentEventsBefore('x', '2024-01-02T00:00:00.400000')).toBe(1);
    expect([...s.sentEvents('x', ['e:old', 'e:new'])]).toEqual(['e:new']);
    s.close();
  });

  it('opens a store written by the previous version (no inclusive columns) and keeps its watermark', () => {
    const path = join(tempDir(), 'state.sqlite');
    const old = new Database(path);
    old.exec(`CREATE TABLE watermarks (state_key TEXT PRIMARY KEY, cursor_ts TEXT NOT NULL, cursor_key TEXT, run_id TEXT, updated_at TEXT NOT NULL);
      CREATE TABLE watermark_log (id INTEGER PRIMARY KEY AUTOINCREMENT, state_key TEXT NOT NULL, from_ts TEXT, from_key TEXT, to_ts TEXT NOT NULL, to_key TEXT, run_id TEXT, reason TEXT NOT NULL, at TEXT NOT NULL);
      INSERT INTO watermarks VALUES ('x', '2024-01-01T00:00:00.000000', 'k', 'r', '2024-01-01T00:00:00Z');`);
    old.close();
    const s = new StateStore(path);
    expect(s.getWatermark('x')?.cursor).toEqual({ ts: '2024-01-01T00:00:00.000000', key: 'k' });
    expect(s.advanceWatermark('x', { ts: '2024-01-01T00:00:00.000000', key: 'k' }, c, 'r')).toEqual({ status: 'advanced' });
    s.close();
  });
});

/**
 * The state store: watermarks (one per sync, plus one per backfill), the log of every watermark move,
 * rejected rows, and the ledger of events Klaviyo acknowledged inside a sync's lookback window. It must
 * outlive workers (pitfall 12), so its location is configuration. The embedded default is a SQLite file
 * (`better-sqlite3`); every write is a short transaction, and the watermark moves only by
 * compare-and-set (or by a deliberate, logged reset).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { sameCursor, tsSortKey, type Cursor } from '../../incremental/cursor.ts';

/** A stored watermark. `updatedAt` is an ISO 8601 UTC timestamp. */
export interface Watermark {
  cursor: Cursor;
  runId: string | null;
  updatedAt: string;
  /**
   * What the cursor was read from (`cursorSourceText`: table, change column, tie-break column and their
   * types), as of the last commit or reset; null for watermarks written before this was recorded.
   */
  source: string | null;
}

/** Outcome of a compare-and-set on a watermark. */
export type AdvanceOutcome =
  | { status: 'advanced' }
  /** The stored value already equals the target (a retried commit of the same page). */
  | { status: 'already' }
  /**
   * It is not `expected` (nor already `next` by this same run): `actual` is what is stored now and
   * `actualRunId` who put it there (null for a reset). Nothing was written.
   */
  | { status: 'conflict'; actual: Cursor | null; actualRunId: string | null };

/** One move of a watermark, as logged. `to` is null when a reset removed the watermark. */
export interface WatermarkMove {
  from: Cursor | null;
  to: Cursor | null;
  runId: string | null;
  /** `commit` for a page commit, otherwise the reset's reason. */
  reason: string;
  /** ISO 8601 UTC. */
  at: string;
}

/** One rejected row as recorded. `rowKey` is the event's unique_id (mapped or derived). */
export interface RejectRecord {
  sync: string;
  rowKey: string;
  reason: string;
  column?: string;
  detail: string;
  runId: string;
  /** The row's values by column name, as read (shown masked by `dwh-import rejects`). */
  row?: Record<string, unknown>;
}

/** A stored reject, as listed. */
export interface StoredReject extends RejectRecord {
  recordedAt: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS watermarks (
  state_key  TEXT PRIMARY KEY,
  cursor_ts  TEXT NOT NULL,
  cursor_key TEXT,
  run_id     TEXT,
  updated_at TEXT NOT NULL,
  cursor_inclusive INTEGER NOT NULL DEFAULT 0,
  cursor_source TEXT
);
CREATE TABLE IF NOT EXISTS watermark_log (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  state_key  TEXT NOT NULL,
  from_ts    TEXT, from_key TEXT,
  to_ts      TEXT NOT NULL, to_key TEXT,
  run_id     TEXT,
  reason     TEXT NOT NULL,
  at         TEXT NOT NULL,
  from_inclusive INTEGER NOT NULL DEFAULT 0,
  to_inclusive   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS watermark_log_by_key ON watermark_log (state_key, id);
CREATE TABLE IF NOT EXISTS sent_events (
  state_key TEXT NOT NULL,
  fp        TEXT NOT NULL,
  ts_sort   TEXT NOT NULL,
  PRIMARY KEY (state_key, fp)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sent_events_by_ts ON sent_events (state_key, ts_sort);
CREATE TABLE IF NOT EXISTS rejects (
  sync        TEXT NOT NULL,
  row_key     TEXT NOT NULL,
  reason      TEXT NOT NULL,
  column_name TEXT,
  detail      TEXT NOT NULL,
  run_id      TEXT NOT NULL,
  row_json    TEXT,
  recorded_at TEXT NOT NULL,
  PRIMARY KEY (sync, row_key, run_id)
);
CREATE INDEX IF NOT EXISTS rejects_by_run ON rejects (sync, run_id);
`;

/** SQLite implementation of the state store. Safe for several processes on one host (WAL, busy timeout). */
export class StateStore {
  private readonly db: Database.Database;

  /** Opens (creating if needed) the SQLite file at `path`; `:memory:` for a throwaway store. */
  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('synchronous = FULL');
    this.migrate();
    this.db.exec(SCHEMA);
  }

  /** Adds the columns later versions introduced to tables an earlier version created. */
  private migrate(): void {
    const add = (table: string, column: string, decl: string) => {
      const cols = this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
      if (cols.length > 0 && !cols.some((c) => c.name === column)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${decl}`);
    };
    add('watermarks', 'cursor_inclusive', 'INTEGER NOT NULL DEFAULT 0');
    add('watermarks', 'cursor_source', 'TEXT');
    // Rejects were kept once per row (a later run's reject of the same row replaced the earlier run's);
    // now once per row and run, so that `rejects --run` lists exactly what that run rejected.
    const rejectsSql = (this.db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'rejects'").get() as { sql: string } | undefined)?.sql;
    if (rejectsSql && /PRIMARY KEY \(sync, row_key\)/.test(rejectsSql)) {
      this.db.transaction(() => {
        this.db.exec('DROP INDEX IF EXISTS rejects_by_run; ALTER TABLE rejects RENAME TO rejects_v1');
        this.db.exec(SCHEMA);
        this.db.exec(
          `INSERT INTO rejects (sync, row_key, reason, column_name, detail, run_id, row_json, recorded_at)
           SELECT sync, row_key, reason, column_name, detail, run_id, row_json, recorded_at FROM rejects_v1; DROP TABLE rejects_v1`,
        );
      }).immediate();
    }
    add('watermark_log', 'from_inclusive', 'INTEGER NOT NULL DEFAULT 0');
    add('watermark_log', 'to_inclusive', 'INTEGER NOT NULL DEFAULT 0');
  }

  /** The stored watermark of `stateKey` (a sync name, or a backfill's key), or null before the first commit. */
  getWatermark(stateKey: string): Watermark | null {
    const row = this.db
      .prepare('SELECT cursor_ts, cursor_key, cursor_inclusive, run_id, updated_at, cursor_source FROM watermarks WHERE state_key = ?')
      .get(stateKey) as
      | { cursor_ts: string; cursor_key: string | null; cursor_inclusive: number; run_id: string | null; updated_at: string; cursor_source: string | null }
      | undefined;
    if (!row) return null;
    return { cursor: toCursor(row.cursor_ts, row.cursor_key, row.cursor_inclusive), runId: row.run_id, updatedAt: row.updated_at, source: row.cursor_source };
  }

  /**
   * Compare-and-set: moves the watermark from `expected` to `next` atomically, only if it still equals
   * `expected`. Idempotent for one run: when it already equals `next` *and* this run (`runId`) put it
   * there, reports `already` and writes nothing. Anything else (another run, a reset) is a conflict.
   * `source` (see `Watermark.source`) is recorded with the cursor when given.
   */
  advanceWatermark(stateKey: string, expected: Cursor | null, next: Cursor, runId: string, source?: string): AdvanceOutcome {
    return this.db.transaction((): AdvanceOutcome => {
      const stored = this.getWatermark(stateKey);
      const current = stored?.cursor ?? null;
      if (sameCursor(current, next) && stored?.runId === runId) return { status: 'already' };
      if (!sameCursor(current, expected)) return { status: 'conflict', actual: current, actualRunId: stored?.runId ?? null };
      this.write(stateKey, current, next, runId, 'commit', source);
      return { status: 'advanced' };
    }).immediate();
  }

  /**
   * Sets the watermark unconditionally (a deliberate reset), or removes it when `next` is null, and
   * forgets the state key's ledger of sent events (so that re-read rows are sent again). Logged with `reason`.
   * `source` (see `Watermark.source`): what the new cursor refers to; undefined keeps the recorded one.
   */
  resetWatermark(stateKey: string, next: Cursor | null, reason: string, source?: string): void {
    this.db.transaction(() => {
      const current = this.getWatermark(stateKey)?.cursor ?? null;
      if (next === null) {
        this.db.prepare('DELETE FROM watermarks WHERE state_key = ?').run(stateKey);
        this.log(stateKey, current, null, null, reason);
      } else this.write(stateKey, current, next, null, reason, source);
      this.db.prepare('DELETE FROM sent_events WHERE state_key = ?').run(stateKey);
    }).immediate();
  }

  /** Every move of the watermark of `stateKey`, oldest first. */
  watermarkLog(stateKey: string): WatermarkMove[] {
    const rows = this.db
      .prepare(
        `SELECT from_ts, from_key, from_inclusive, to_ts, to_key, to_inclusive, run_id, reason, at FROM watermark_log
         WHERE state_key = ? ORDER BY id`,
      )
      .all(stateKey) as {
      from_ts: string | null;
      from_key: string | null;
      from_inclusive: number;
      to_ts: string;
      to_key: string | null;
      to_inclusive: number;
      run_id: string | null;
      reason: string;
      at: string;
    }[];
    return rows.map((r) => ({
      from: r.from_ts === null ? null : toCursor(r.from_ts, r.from_key, r.from_inclusive),
      to: r.to_ts === '' ? null : toCursor(r.to_ts, r.to_key, r.to_inclusive),
      runId: r.run_id,
      reason: r.reason,
      at: r.at,
    }));
  }

  private write(stateKey: string, from: Cursor | null, to: Cursor, runId: string | null, reason: string, source?: string): void {
    const now = new Date().toISOString();
    this.db
      .prepare(
        `INSERT INTO watermarks (state_key, cursor_ts, cursor_key, cursor_inclusive, run_id, updated_at, cursor_source) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (state_key) DO UPDATE SET cursor_ts = excluded.cursor_ts, cursor_key = excluded.cursor_key,
           cursor_inclusive = excluded.cursor_inclusive, run_id = excluded.run_id, updated_at = excluded.updated_at,
           cursor_source = COALESCE(excluded.cursor_source, watermarks.cursor_source)`,
      )
      .run(stateKey, to.ts, to.key, to.inclusive ? 1 : 0, runId, now, source ?? null);
    this.log(stateKey, from, to, runId, reason);
  }

  private log(stateKey: string, from: Cursor | null, to: Cursor | null, runId: string | null, reason: string): void {
    this.db
      .prepare(
        `INSERT INTO watermark_log (state_key, from_ts, from_key, from_inclusive, to_ts, to_key, to_inclusive, run_id, reason, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(stateKey, from?.ts ?? null, from?.key ?? null, from?.inclusive ? 1 : 0, to?.ts ?? '', to?.key ?? null, to?.inclusive ? 1 : 0, runId, reason, new Date().toISOString());
  }

  /**
   * The ledger of sent events: which of `fingerprints` (see `eventFingerprint`) Klaviyo already
   * acknowledged for `stateKey`. Used while re-reading the lookback window, so that only rows not
   * sent before (late rows) are sent.
   */
  sentEvents(stateKey: string, fingerprints: readonly string[]): Set<string> {
    const found = new Set<string>();
    if (fingerprints.length === 0) return found;
    const stmt = this.db.prepare('SELECT 1 FROM sent_events WHERE state_key = ? AND fp = ?').pluck();
    for (const fp of fingerprints) if (stmt.get(stateKey, fp) !== undefined) found.add(fp);
    return found;
  }

  /** Adds acknowledged events to the ledger; `ts` is the row's change timestamp literal (for pruning). */
  recordSentEvents(stateKey: string, events: readonly { fp: string; ts: string }[]): void {
    if (events.length === 0) return;
    const stmt = this.db.prepare('INSERT INTO sent_events (state_key, fp, ts_sort) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET ts_sort = excluded.ts_sort');
    this.db.transaction(() => {
      for (const e of events) stmt.run(stateKey, e.fp, tsSortKey(e.ts));
    })();
  }

  /** Forgets ledger entries of rows changed before `ts` (behind the lookback window). @returns how many. */
  forgetSentEventsBefore(stateKey: string, ts: string): number {
    return this.db.prepare('DELETE FROM sent_events WHERE state_key = ? AND ts_sort < ?').run(stateKey, tsSortKey(ts)).changes;
  }

  /** How many events the ledger holds for `stateKey`. */
  sentEventCount(stateKey: string): number {
    return this.db.prepare('SELECT COUNT(*) FROM sent_events WHERE state_key = ?').pluck().get(stateKey) as number;
  }

  /** Records rejected rows in one transaction; a row rejected again (a retry, a re-read) replaces its record. */
  recordRejects(rejects: RejectRecord[]): void {
    if (rejects.length === 0) return;
    const stmt = this.db.prepare(
      `INSERT INTO rejects (sync, row_key, reason, column_name, detail, run_id, row_json, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (sync, row_key, run_id) DO UPDATE SET reason = excluded.reason, column_name = excluded.column_name,
         detail = excluded.detail, row_json = excluded.row_json, recorded_at = excluded.recorded_at`,
    );
    const now = new Date().toISOString();
    this.db.transaction(() => {
      for (const r of rejects) {
        stmt.run(r.sync, r.rowKey, r.reason, r.column ?? null, r.detail, r.runId, r.row ? JSON.stringify(r.row) : null, now);
      }
    })();
  }

  /**
   * Rejected rows of a sync, newest first: those of one run (`runId`), or else each row's latest reject
   * (a row rejected by several runs is listed once, with the last run).
   */
  listRejects(sync: string, opts: { runId?: string; limit?: number } = {}): StoredReject[] {
    const cols = 'sync, row_key, reason, column_name, detail, run_id, row_json, recorded_at';
    const rows = this.db
      .prepare(
        opts.runId
          ? `SELECT ${cols} FROM rejects WHERE sync = ? AND run_id = ? ORDER BY recorded_at DESC, rowid DESC LIMIT ?`
          : `SELECT ${cols} FROM (SELECT ${cols}, rowid AS r, ROW_NUMBER() OVER (PARTITION BY row_key ORDER BY recorded_at DESC, rowid DESC) AS latest
               FROM rejects WHERE sync = ?) WHERE latest = 1 ORDER BY recorded_at DESC, r DESC LIMIT ?`,
      )
      .all(...(opts.runId ? [sync, opts.runId] : [sync]), opts.limit ?? 100) as {
      sync: string;
      row_key: string;
      reason: string;
      column_name: string | null;
      detail: string;
      run_id: string;
      row_json: string | null;
      recorded_at: string;
    }[];
    return rows.map((r) => ({
      sync: r.sync,
      rowKey: r.row_key,
      reason: r.reason,
      column: r.column_name ?? undefined,
      detail: r.detail,
      runId: r.run_id,
      row: r.row_json ? JSON.parse(r.row_json) : undefined,
      recordedAt: r.recorded_at,
    }));
  }

  /** Rejected rows of a sync by reason, each row counted once with its latest reject. */
  rejectCounts(sync: string): Record<string, number> {
    const rows = this.db
      .prepare(
        `SELECT reason, COUNT(*) AS n FROM (SELECT reason, ROW_NUMBER() OVER (PARTITION BY row_key ORDER BY recorded_at DESC, rowid DESC) AS latest
           FROM rejects WHERE sync = ?) WHERE latest = 1 GROUP BY reason`,
      )
      .all(sync) as { reason: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.reason, r.n]));
  }

  close(): void {
    this.db.close();
  }
}

function toCursor(ts: string, key: string | null, inclusive: number): Cursor {
  return inclusive ? { ts, key, inclusive: true } : { ts, key };
}

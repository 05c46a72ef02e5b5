/**
 * The state store: watermarks (one per sync, plus one per backfill) and rejected rows. It must outlive
 * workers (pitfall 12), so its location is configuration. The embedded default is a SQLite file
 * (`better-sqlite3`); every write is a short transaction, and the watermark moves only by
 * compare-and-set.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { sameCursor, type Cursor } from '../../incremental/cursor.ts';

/** A stored watermark. `updatedAt` is an ISO 8601 UTC timestamp. */
export interface Watermark {
  cursor: Cursor;
  runId: string | null;
  updatedAt: string;
}

/** Outcome of a compare-and-set on a watermark. */
export type AdvanceOutcome =
  | { status: 'advanced' }
  /** The stored value already equals the target (a retried commit of the same page). */
  | { status: 'already' }
  /** Someone else moved it: `actual` is what is stored now. Nothing was written. */
  | { status: 'conflict'; actual: Cursor | null };

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
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS watermark_log (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  state_key  TEXT NOT NULL,
  from_ts    TEXT, from_key TEXT,
  to_ts      TEXT NOT NULL, to_key TEXT,
  run_id     TEXT,
  reason     TEXT NOT NULL,
  at         TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejects (
  sync        TEXT NOT NULL,
  row_key     TEXT NOT NULL,
  reason      TEXT NOT NULL,
  column_name TEXT,
  detail      TEXT NOT NULL,
  run_id      TEXT NOT NULL,
  row_json    TEXT,
  recorded_at TEXT NOT NULL,
  PRIMARY KEY (sync, row_key)
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
    this.db.exec(SCHEMA);
  }

  /** The stored watermark of `stateKey` (a sync name, or a backfill's key), or null before the first commit. */
  getWatermark(stateKey: string): Watermark | null {
    const row = this.db
      .prepare('SELECT cursor_ts, cursor_key, run_id, updated_at FROM watermarks WHERE state_key = ?')
      .get(stateKey) as { cursor_ts: string; cursor_key: string | null; run_id: string | null; updated_at: string } | undefined;
    if (!row) return null;
    return { cursor: { ts: row.cursor_ts, key: row.cursor_key }, runId: row.run_id, updatedAt: row.updated_at };
  }

  /**
   * Compare-and-set: moves the watermark from `expected` to `next` atomically, only if it still equals
   * `expected`. Idempotent: when it already equals `next`, reports `already` and writes nothing.
   */
  advanceWatermark(stateKey: string, expected: Cursor | null, next: Cursor, runId: string): AdvanceOutcome {
    return this.db.transaction((): AdvanceOutcome => {
      const current = this.getWatermark(stateKey)?.cursor ?? null;
      if (sameCursor(current, next)) return { status: 'already' };
      if (!sameCursor(current, expected)) return { status: 'conflict', actual: current };
      this.write(stateKey, current, next, runId, 'commit');
      return { status: 'advanced' };
    }).immediate();
  }

  /** Sets the watermark unconditionally (a deliberate reset), or removes it when `next` is null. */
  resetWatermark(stateKey: string, next: Cursor | null, reason: string): void {
    this.db.transaction(() => {
      const current = this.getWatermark(stateKey)?.cursor ?? null;
      if (next === null) {
        this.db.prepare('DELETE FROM watermarks WHERE state_key = ?').run(stateKey);
        this.log(stateKey, current, { ts: '', key: null }, null, reason);
      } else this.write(stateKey, current, next, null, reason);
    }).immediate();
  }

  private write(stateKey: string, from: Cursor | null, to: Cursor, runId: string | null, reason: string): void {
    const now = new Date().toISOString();
    this.db
      .prepare(
        `INSERT INTO watermarks (state_key, cursor_ts, cursor_key, run_id, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (state_key) DO UPDATE SET cursor_ts = excluded.cursor_ts, cursor_key = excluded.cursor_key,
           run_id = excluded.run_id, updated_at = excluded.updated_at`,
      )
      .run(stateKey, to.ts, to.key, runId, now);
    this.log(stateKey, from, to, runId, reason);
  }

  private log(stateKey: string, from: Cursor | null, to: Cursor, runId: string | null, reason: string): void {
    this.db
      .prepare('INSERT INTO watermark_log (state_key, from_ts, from_key, to_ts, to_key, run_id, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(stateKey, from?.ts ?? null, from?.key ?? null, to.ts, to.key, runId, reason, new Date().toISOString());
  }

  /** Records rejected rows in one transaction; a row rejected again (a retry, a re-read) replaces its record. */
  recordRejects(rejects: RejectRecord[]): void {
    if (rejects.length === 0) return;
    const stmt = this.db.prepare(
      `INSERT INTO rejects (sync, row_key, reason, column_name, detail, run_id, row_json, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (sync, row_key) DO UPDATE SET reason = excluded.reason, column_name = excluded.column_name,
         detail = excluded.detail, run_id = excluded.run_id, row_json = excluded.row_json, recorded_at = excluded.recorded_at`,
    );
    const now = new Date().toISOString();
    this.db.transaction(() => {
      for (const r of rejects) {
        stmt.run(r.sync, r.rowKey, r.reason, r.column ?? null, r.detail, r.runId, r.row ? JSON.stringify(r.row) : null, now);
      }
    })();
  }

  /** Rejected rows of a sync, newest first, optionally of one run. */
  listRejects(sync: string, opts: { runId?: string; limit?: number } = {}): StoredReject[] {
    const rows = this.db
      .prepare(
        `SELECT sync, row_key, reason, column_name, detail, run_id, row_json, recorded_at FROM rejects
         WHERE sync = ? ${opts.runId ? 'AND run_id = ?' : ''} ORDER BY recorded_at DESC, row_key LIMIT ?`,
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

  /** Reject counts of a sync by reason (all runs). */
  rejectCounts(sync: string): Record<string, number> {
    const rows = this.db.prepare('SELECT reason, COUNT(*) AS n FROM rejects WHERE sync = ? GROUP BY reason').all(sync) as { reason: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.reason, r.n]));
  }

  close(): void {
    this.db.close();
  }
}

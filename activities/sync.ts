/**
 * The sync activities: the only place where rows exist. `prepareRun` checks the source and fixes the
 * run's bounds; `loadPage` reads one keyset page, maps it, loads it into Klaviyo, records its rejects
 * and then moves the watermark by compare-and-set. Both return counts and cursors only.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ConnectionConfig, SyncConfig } from '../config/types.ts';
import { durationSeconds } from '../config/duration.ts';
import { settleBound, readStart } from '../incremental/bounds.ts';
import { compareCursor, type Cursor } from '../incremental/cursor.ts';
import { cursorOf } from '../incremental/sql.ts';
import { loadEvents, KlaviyoAuthError, LoadDeadlineError } from '../loading/loader.ts';
import { limiterFor, type RateLimits } from '../loading/rate-limiter.ts';
import { compileMapper, MappingError } from '../mapping/map-row.ts';
import type { KlaviyoEvent } from '../mapping/types.ts';
import { openReader } from './connect.ts';
import { sdkSender, type KlaviyoTarget } from './klaviyo/sdk-sender.ts';
import type { StateStore, RejectRecord } from './state/store.ts';
import type { Counts, PageInput, PageResult, PrepareInput, PrepareResult } from './types.ts';
import { SourceError, type SourceColumn, type WarehouseReader } from './warehouse/types.ts';

/** What the activities need from the worker. */
export interface ActivityDeps {
  connection: ConnectionConfig;
  state: StateStore;
  klaviyo: KlaviyoTarget;
  /** Klaviyo's bulk limits, or null to send unpaced (local API with limits off). */
  rateLimits: RateLimits | null;
  /** Bulk requests in flight per page. */
  concurrency?: number;
}

const NULL_CHANGE_SAMPLE = 1000;

function nonRetryable(e: unknown): never {
  if (e instanceof SourceError || e instanceof MappingError || e instanceof KlaviyoAuthError) {
    throw ApplicationFailure.nonRetryable(e.message, e.name);
  }
  throw e;
}

/** The source columns a sync reads, with its change-detection and tie-break columns resolved. */
export interface Resolved {
  columns: SourceColumn[];
  change: SourceColumn;
  tieBreaker?: SourceColumn;
  keyOrder: 'numeric' | 'text';
}

/**
 * Finds the change-detection column (a TIMESTAMP or DATE) and the tie-break column of a sync among the
 * source's columns (exact name, then case-insensitive).
 * @throws MappingError naming the missing or wrongly typed column.
 */
export function resolveColumns(sync: SyncConfig, columns: SourceColumn[]): Resolved {
  const find = (name: string) => columns.find((c) => c.name === name) ?? columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
  const change = find(sync.mapping.change_timestamp);
  if (!change) throw new MappingError(`column "${sync.mapping.change_timestamp}" mapped as change_timestamp does not exist in ${sync.source.table}`);
  if (!['timestamp_ntz', 'timestamp_tz', 'date'].includes(change.kind)) {
    throw new MappingError(`column "${change.name}" mapped as change_timestamp has type ${change.sqlType}; a TIMESTAMP or DATE column is needed`);
  }
  const tbName = sync.source.tie_breaker ?? sync.mapping.unique_id;
  const tieBreaker = tbName ? find(tbName) : undefined;
  if (tbName && !tieBreaker) throw new MappingError(`tie-break column "${tbName}" does not exist in ${sync.source.table}`);
  const keyOrder = tieBreaker && ['integer', 'decimal', 'float'].includes(tieBreaker.kind) ? 'numeric' : 'text';
  return { columns, change, tieBreaker, keyOrder };
}

function rowObject(columns: SourceColumn[], row: readonly unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  columns.forEach((c, i) => (o[c.name] = row[i]));
  return o;
}

function bump(counts: Counts, reason: string, n = 1): void {
  counts[reason] = (counts[reason] ?? 0) + n;
}

/** Builds the activity functions around the worker's dependencies. */
export function createSyncActivities(deps: ActivityDeps) {
  const sender = sdkSender(deps.klaviyo);
  const limiter = limiterFor(sender.accountId, deps.rateLimits);
  async function withReader<T>(fn: (r: WarehouseReader) => Promise<T>): Promise<T> {
    const reader = await openReader(deps.connection).catch(nonRetryable);
    try {
      return await fn(reader);
    } finally {
      await reader.close();
    }
  }

  return {
    /**
     * Checks the source (table, mapped columns and their types: pitfall 11, schema drift), reads the
     * watermark, fixes the run's upper bound (now - settle delay), and records rows whose change
     * timestamp is NULL as rejects.
     * @throws non-retryable SourceError / MappingError when the source does not fit the sync.
     */
    async prepareRun(input: PrepareInput): Promise<PrepareResult> {
      const { sync } = input;
      return withReader(async (reader) => {
        const columns = await reader.describe(sync.source.table).catch(nonRetryable);
        const resolved = (() => {
          try {
            const r = resolveColumns(sync, columns);
            const mapper = compileMapper(sync, columns);
            return { ...r, mapper };
          } catch (e) {
            return nonRetryable(e);
          }
        })();
        const settle = durationSeconds(sync.options.settle_delay);
        let until = settleBound(resolved.change.kind, input.nowMs, settle, sync.options.timestamp_zone);
        if (input.changeUntil) {
          const cap = settleBound(resolved.change.kind, Date.parse(input.changeUntil), 0, sync.options.timestamp_zone);
          if (cap < until) until = cap;
        }
        const wm = deps.state.getWatermark(input.stateKey)?.cursor ?? null;
        let nullChangeRows = 0;
        if (input.checkNullChange) {
          const nulls = await reader.readNullChange({ table: sync.source.table, columns, change: resolved.change, limit: NULL_CHANGE_SAMPLE });
          nullChangeRows = nulls.total;
          const rejects: RejectRecord[] = nulls.page.rows.map((row) => {
            const r = resolved.mapper.map(row);
            return {
              sync: sync.name,
              rowKey: r.key,
              reason: 'null_change_timestamp',
              column: resolved.change.name,
              detail: `change timestamp column "${resolved.change.name}" is NULL: the row has no place in the incremental order and is not loaded`,
              runId: input.runId,
              row: rowObject(columns, row),
            };
          });
          deps.state.recordRejects(rejects);
        }
        const lookback = durationSeconds(sync.options.lookback);
        return {
          watermark: wm,
          until,
          lookbackFrom: wm && lookback > 0 ? readStart(wm, lookback) : null,
          propertyColumns: [...resolved.mapper.propertyColumns],
          nullChangeRows,
          keyOrder: resolved.keyOrder,
        };
      });
    },

    /**
     * Reads, maps and loads one page, records its rejects, then (when `commit`) moves the watermark
     * to the page's last cursor by compare-and-set. Safe to retry: a retried page re-sends events that
     * Klaviyo deduplicates by unique_id, and a commit already made is recognised.
     * @throws non-retryable WatermarkConflict when another run or a reset moved the watermark.
     */
    async loadPage(input: PageInput): Promise<PageResult> {
      const ctx = Context.current();
      const { sync } = input;
      const started = Date.now();
      return withReader(async (reader) => {
        const columns = await reader.describe(sync.source.table).catch(nonRetryable);
        let resolved: Resolved;
        let mapper: ReturnType<typeof compileMapper>;
        try {
          resolved = resolveColumns(sync, columns);
          mapper = compileMapper(sync, columns);
        } catch (e) {
          return nonRetryable(e);
        }
        const eventCol = columns.find((c) => c.name === sync.mapping.event_timestamp) ?? columns.find((c) => c.name.toLowerCase() === sync.mapping.event_timestamp.toLowerCase());
        const page = await reader.readPage({
          table: sync.source.table,
          columns,
          change: resolved.change,
          tieBreaker: resolved.tieBreaker,
          after: input.after,
          until: input.until,
          limit: sync.options.page_size,
          eventRange:
            eventCol && (input.eventFrom || input.eventTo)
              ? { column: eventCol, from: input.eventFrom, to: input.eventTo }
              : undefined,
        });
        ctx.heartbeat({ phase: 'read', rows: page.rows.length });
        const rejected: Counts = {};
        const warnings: Counts = {};
        const rejects: RejectRecord[] = [];
        const events: KlaviyoEvent[] = [];
        const rowByKey = new Map<string, number>();
        page.rows.forEach((row, i) => {
          const r = mapper.map(row);
          if (r.ok) {
            events.push(r.event);
            rowByKey.set(r.event.unique_id, i);
            if (r.warnings) for (const w of r.warnings) bump(warnings, w.reason);
          } else {
            bump(rejected, r.reject.reason);
            rejects.push({ sync: sync.name, rowKey: r.key, reason: r.reject.reason, column: r.reject.column, detail: r.reject.detail, runId: input.runId, row: rowObject(columns, row) });
          }
        });
        const info = ctx.info;
        const deadline = Date.now() + Math.max(10_000, info.startToCloseTimeoutMs - 30_000);
        let load;
        try {
          load = await loadEvents(events, {
            sender,
            limiter,
            backfill: input.backfill || sync.options.backfill,
            concurrency: deps.concurrency,
            deadline,
            signal: ctx.cancellationSignal,
            onProgress: (p) => ctx.heartbeat({ phase: 'load', accepted: p.accepted, requests: p.requests }),
          });
        } catch (e) {
          if (e instanceof KlaviyoAuthError) throw ApplicationFailure.nonRetryable(e.message, e.name);
          if (e instanceof LoadDeadlineError) throw ApplicationFailure.retryable(e.message, e.name);
          throw e;
        }
        for (const r of load.rejects) {
          bump(rejected, r.reason);
          const i = rowByKey.get(r.event.unique_id);
          rejects.push({
            sync: sync.name,
            rowKey: r.event.unique_id,
            reason: r.reason,
            detail: r.detail,
            runId: input.runId,
            row: i === undefined ? undefined : rowObject(columns, page.rows[i]),
          });
        }
        deps.state.recordRejects(rejects);

        const changeIdx = columns.indexOf(resolved.change);
        const keyIdx = resolved.tieBreaker ? columns.indexOf(resolved.tieBreaker) : undefined;
        const last = page.rows.length ? cursorOf(page.rows[page.rows.length - 1], changeIdx, keyIdx) : null;
        let watermark = input.watermark;
        if (input.commit && last) watermark = commit(deps.state, input, last);
        ctx.heartbeat({ phase: 'committed', ms: Date.now() - started });
        return {
          rowsRead: page.rows.length,
          eventsAccepted: load.accepted,
          duplicates: load.duplicates,
          rejected,
          warnings,
          last,
          watermark,
          done: page.rows.length < sync.options.page_size,
          requests: load.requests,
          throttled: load.throttled,
          retries: load.retries,
        };
      });
    },
  };
}

/**
 * Moves the watermark from `input.watermark` to `last`. A retried attempt of this same run may find its
 * own earlier commit: then the further of the two cursors wins (both prefixes were loaded).
 */
function commit(state: StateStore, input: PageInput, last: Cursor): Cursor {
  const outcome = state.advanceWatermark(input.stateKey, input.watermark, last, input.runId);
  if (outcome.status !== 'conflict') return last;
  const stored = state.getWatermark(input.stateKey);
  if (stored && stored.runId === input.runId && outcome.actual) {
    if (compareCursor(last, outcome.actual, input.keyOrder) <= 0) return outcome.actual;
    const again = state.advanceWatermark(input.stateKey, outcome.actual, last, input.runId);
    if (again.status !== 'conflict') return last;
  }
  const now = state.getWatermark(input.stateKey)?.cursor ?? null;
  throw ApplicationFailure.nonRetryable(
    `the watermark of ${input.sync.name} was moved by another run or a reset (expected ${fmt(input.watermark)}, found ${fmt(now)}); ` +
      'this run stopped without changing it. Events of its last page were sent and are deduplicated by unique_id if sent again.',
    'WatermarkConflict',
  );
}

function fmt(c: Cursor | null): string {
  return c ? (c.key === null ? c.ts : `${c.ts} / ${c.key}`) : 'none';
}


/**
 * The sync activities: the only place where rows exist. `prepareRun` checks the source and fixes the
 * run's bounds; `loadPage` reads one keyset page, maps it, loads it into Klaviyo, records its rejects
 * and then moves the watermark by compare-and-set. Both return counts and cursors only.
 *
 * Crash safety: the watermark moves only after Klaviyo acknowledged every event of the page (or the
 * row was recorded as rejected). A crash anywhere before the commit re-reads the same page on retry
 * and re-sends its events, which Klaviyo deduplicates by unique_id; a crash after the commit is
 * recognised by the retry (the stored watermark carries this run's id).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { tieBreakerName, type ConnectionConfig, type SyncConfig } from '../config/types.ts';
import { durationSeconds } from '../config/duration.ts';
import { fractionDigits, readStart, settleBound, userTimeLiteral } from '../incremental/bounds.ts';
import { compareCursor, cursorSourceText, cursorText, shiftLiteral, type Cursor, type KeyOrder } from '../incremental/cursor.ts';
import { eventFingerprint, rejectFingerprint } from '../incremental/ledger.ts';
import { cursorOf, type EventRange } from '../incremental/sql.ts';
import { openLoad, KlaviyoAuthError, KlaviyoRequestError, LoadDeadlineError, type LoadResult } from '../loading/loader.ts';
import { limiterFor, type RateLimits } from '../loading/rate-limiter.ts';
import { compileMapper, MappingError } from '../mapping/map-row.ts';
import type { KlaviyoEvent } from '../mapping/types.ts';
import { openReader } from './connect.ts';
import { senderFor } from './klaviyo/http-sender.ts';
import type { KlaviyoTarget } from './klaviyo/target.ts';
import type { StateStore, RejectRecord } from './state/store.ts';
import type { Counts, EventRangeLiterals, PageInput, PageResult, PrepareInput, PrepareResult } from './types.ts';
import { SourceError, type ColumnKind, type SourceColumn, type SourceValue, type WarehouseReader } from './warehouse/types.ts';

/** What the activities need from the worker. */
export interface ActivityDeps {
  connection: ConnectionConfig;
  state: StateStore;
  klaviyo: KlaviyoTarget;
  /** Klaviyo's bulk limits, or null to send unpaced (local API with limits off). */
  rateLimits: RateLimits | null;
  /** Bulk requests in flight per page. */
  concurrency?: number;
  /** Rows per chunk a page is streamed in (default `DEFAULT_CHUNK_ROWS`, 2,048). */
  chunkRows?: number;
}

/** Rows with a NULL change timestamp recorded as rejects per run (all of them are counted). */
const NULL_CHANGE_SAMPLE = 1000;

/**
 * Mapping rejects of a page are written to the state store in batches of this many rows while the page
 * streams (one transaction each), so that a page of any size holds at most this many reject rows.
 * A row the mapping rejects is rejected whatever happens to the rest of the page; a retried page
 * writes its rejects again (the store keeps one record per row).
 */
const REJECT_FLUSH_ROWS = 1000;

/**
 * A page whose events Klaviyo refused *all*, when there are at least this many, is taken for a
 * systematic failure (a wrong revision, an account problem) rather than bad rows: the run stops
 * without recording rejects or moving the watermark, instead of marking a whole page rejected.
 */
const ALL_REJECTED_THRESHOLD = 10;

/** Column kinds usable as a tie-break key: their text form casts back to the same value in the warehouse. */
const TIE_BREAK_KINDS: ReadonlySet<ColumnKind> = new Set(['text', 'integer', 'decimal', 'float', 'boolean', 'date', 'time', 'timestamp_ntz', 'timestamp_tz', 'other']);

class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function nonRetryable(e: unknown): never {
  if (e instanceof SourceError || e instanceof MappingError || e instanceof KlaviyoAuthError || e instanceof ConfigError) {
    throw ApplicationFailure.nonRetryable(e.message, e.name);
  }
  throw e;
}

/** The source columns a sync reads, with its change-detection and tie-break columns resolved. */
export interface Resolved {
  columns: SourceColumn[];
  change: SourceColumn;
  tieBreaker?: SourceColumn;
  event?: SourceColumn;
  keyOrder: KeyOrder;
  mapper: ReturnType<typeof compileMapper>;
}

/**
 * Resolves the change-detection and tie-break columns against the source (exact name first, then
 * case-insensitively).
 * @throws MappingError naming the column that is missing or of an unusable type.
 */
export function resolveColumns(sync: SyncConfig, columns: SourceColumn[]): Resolved {
  const find = (name: string) => columns.find((c) => c.name === name) ?? columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
  const change = find(sync.mapping.change_timestamp);
  if (!change) throw new MappingError(`column "${sync.mapping.change_timestamp}" mapped as change_timestamp does not exist in ${sync.source.table}`);
  if (!['timestamp_ntz', 'timestamp_tz', 'date'].includes(change.kind)) {
    throw new MappingError(`column "${change.name}" mapped as change_timestamp has type ${change.sqlType}; a TIMESTAMP or DATE column is needed`);
  }
  const tbName = tieBreakerName(sync);
  const tieBreaker = tbName ? find(tbName) : undefined;
  if (tbName && !tieBreaker) throw new MappingError(`tie-break column "${tbName}" does not exist in ${sync.source.table}`);
  if (tieBreaker && !TIE_BREAK_KINDS.has(tieBreaker.kind)) {
    throw new MappingError(
      `column "${tieBreaker.name}" (${tieBreaker.sqlType}) cannot order rows as the tie-break key` +
        `${sync.source.tie_breaker ? '' : ' (it is the unique_id column)'}: set source.tie_breaker to a text, number, date or timestamp column`,
    );
  }
  const keyOrder: KeyOrder = tieBreaker && ['integer', 'decimal', 'float'].includes(tieBreaker.kind) ? 'numeric' : 'text';
  const mapper = compileMapper(sync, columns);
  return { columns, change, tieBreaker, event: find(sync.mapping.event_timestamp), keyOrder, mapper };
}

function rowObject(columns: SourceColumn[], row: readonly unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i < columns.length; i++) o[columns[i].name] = row[i];
  return o;
}

function bump(counts: Counts, reason: string, n = 1): void {
  counts[reason] = (counts[reason] ?? 0) + n;
}

function eventRangeOf(resolved: Resolved, r: EventRangeLiterals | undefined): EventRange | undefined {
  if (!r || (r.from === undefined && r.to === undefined) || !resolved.event) return undefined;
  return { column: resolved.event, from: r.from, to: r.to };
}

/** Builds the activity functions around the worker's dependencies. */
export function createSyncActivities(deps: ActivityDeps) {
  const sender = senderFor(deps.klaviyo);
  const limiter = limiterFor(sender.accountId, deps.rateLimits);
  async function withReader<T>(fn: (r: WarehouseReader) => Promise<T>): Promise<T> {
    const reader = await openReader(deps.connection).catch(nonRetryable);
    try {
      return await fn(reader);
    } finally {
      await reader.close();
    }
  }
  async function describe(reader: WarehouseReader, sync: SyncConfig): Promise<Resolved> {
    const columns = await reader.describe(sync.source.table).catch(nonRetryable);
    try {
      return resolveColumns(sync, columns);
    } catch (e) {
      return nonRetryable(e);
    }
  }

  return {
    /**
     * Checks the source (table, mapped columns and their types: pitfall 11, schema drift), reads the
     * watermark, fixes the run's upper bound (now - settle delay, "now" being the earlier of the
     * warehouse's and the worker's clock), turns a backfill's event-time range into literals, and
     * records rows whose change timestamp is NULL as rejects (all counted, the first 1,000 recorded).
     * @throws non-retryable SourceError / MappingError / ConfigError when the source or the sync cannot work.
     */
    async prepareRun(input: PrepareInput): Promise<PrepareResult> {
      const { sync } = input;
      return withReader(async (reader) => {
        const resolved = await describe(reader, sync);
        const zone = sync.options.timestamp_zone;
        const precision = fractionDigits(resolved.change.sqlType);

        let nowMs: number;
        let clock: PrepareResult['clock'];
        if (input.nowMs !== undefined) {
          nowMs = input.nowMs;
          clock = 'input';
        } else {
          const worker = Date.now();
          const warehouse = reader.now ? await reader.now() : undefined;
          nowMs = warehouse !== undefined && warehouse < worker ? warehouse : worker;
          clock = warehouse !== undefined && warehouse < worker ? 'warehouse' : 'worker';
        }
        let until: string;
        let eventRange: EventRangeLiterals | undefined;
        try {
          until = settleBound(resolved.change.kind, nowMs, durationSeconds(sync.options.settle_delay), zone, precision);
          if (input.mode === 'backfill' && (input.eventFrom || input.eventTo)) {
            const ev = resolved.event!;
            if (!['timestamp_ntz', 'timestamp_tz', 'date'].includes(ev.kind)) {
              throw new ConfigError(`a backfill range needs a TIMESTAMP or DATE event_timestamp column; "${ev.name}" is ${ev.sqlType}`);
            }
            const p = fractionDigits(ev.sqlType);
            eventRange = {
              from: input.eventFrom ? userTimeLiteral(input.eventFrom, ev.kind, zone, p, 'ceil') : undefined,
              to: input.eventTo ? userTimeLiteral(input.eventTo, ev.kind, zone, p, 'ceil') : undefined,
            };
          }
        } catch (e) {
          return nonRetryable(e instanceof ConfigError ? e : new ConfigError(`${sync.name}: ${(e as Error).message}`));
        }

        const stored = deps.state.getWatermark(input.stateKey);
        const wm = stored?.cursor ?? null;
        const source = cursorSourceText(sync.source.table, resolved.change, resolved.tieBreaker);
        if (stored?.source && stored.source !== source) {
          const backfill = input.stateKey !== sync.name;
          return nonRetryable(
            new ConfigError(
              `${sync.name}: the watermark (${cursorText(wm)}) is a position in ${stored.source}, but the sync now reads ${source}. ` +
                'A position in one order means nothing in another: this run would skip or re-send rows, so it stops without reading. ' +
                (backfill
                  ? 'Start the backfill again with --restart.'
                  : `Choose where the sync starts: \`dwh-import reset ${sync.name} --to <time>\` (from that change timestamp, inclusive; ` +
                    `--to ${wm!.ts} keeps its place) or \`dwh-import reset ${sync.name} --clear\` (the whole table again; events whose unique_id ` +
                    'did not change are deduplicated by Klaviyo).'),
            ),
          );
        }
        const nulls = await reader.readNullChange({
          table: sync.source.table,
          columns: resolved.columns,
          change: resolved.change,
          limit: NULL_CHANGE_SAMPLE,
          eventRange: eventRangeOf(resolved, eventRange),
        });
        deps.state.recordRejects(
          nulls.page.rows.map((row): RejectRecord => ({
            sync: sync.name,
            rowKey: resolved.mapper.map(row).key,
            reason: 'null_change_timestamp',
            column: resolved.change.name,
            detail: `change timestamp column "${resolved.change.name}" is NULL: the row has no place in the incremental order and is not loaded until it gets a change timestamp`,
            runId: input.runId,
            row: rowObject(resolved.columns, row),
          })),
        );
        // Rows changed after now (beyond a minute of clock skew) wait silently otherwise: count them, as a
        // hint that timestamp_zone may not match how the column is written.
        let futureRows = 0;
        if (reader.countRows) {
          const ahead = resolved.change.kind === 'date' ? settleBound('date', nowMs + 86_400_000, 0, zone) : settleBound(resolved.change.kind, nowMs + 60_000, 0, zone, precision);
          futureRows = await reader.countRows({ table: sync.source.table, change: resolved.change, after: { ts: ahead, key: null }, eventRange: eventRangeOf(resolved, eventRange) });
        }
        const lookback = input.mode === 'incremental' ? durationSeconds(sync.options.lookback) : 0;
        return {
          futureRows,
          watermark: wm,
          until,
          nowMs,
          clock,
          lookbackFrom: wm && lookback > 0 ? readStart(wm, lookback) : null,
          propertyColumns: [...resolved.mapper.propertyColumns],
          nullChangeRows: nulls.total,
          keyOrder: resolved.keyOrder,
          tieBreaker: resolved.tieBreaker?.name ?? null,
          ...(eventRange ? { eventRange } : {}),
        };
      });
    },

    /**
     * Reads, maps and loads one page, records its rejects, then (main phase) moves the watermark to the
     * page's last cursor by compare-and-set. Safe to retry: a retried page re-sends events that
     * Klaviyo deduplicates by unique_id, and a commit already made by this run is recognised.
     *
     * The page is streamed: rows arrive in chunks (`WarehouseReader.streamPage`), each chunk is mapped
     * and written to the loader (`openLoad`), which sends full requests while the next chunk is read and
     * holds only a few requests' worth of events; the rows of acknowledged events are garbage at once.
     * Only the page's rejects (with their rows, for the state store) and, for lookback syncs, the
     * ledger's fingerprints are kept until the page ends. The page stays the unit of commit.
     *
     * With a lookback configured, a ledger of settled rows inside the lookback window keeps re-read
     * rows from being sent again: only rows not settled before (late rows) are sent.
     * @throws non-retryable WatermarkConflict when another run or a reset moved the watermark;
     *   non-retryable KlaviyoRejectedPage when Klaviyo refused every event of a page (>= 10 events).
     */
    async loadPage(input: PageInput): Promise<PageResult> {
      const ctx = Context.current();
      const { sync } = input;
      let details: Record<string, unknown> = { phase: 'read' };
      const beat = (d: Record<string, unknown>) => {
        details = d;
        ctx.heartbeat(d);
      };
      // Heartbeat on a timer as well: waits in the rate limiter (up to a minute after a 429) must not
      // look like a dead worker, and a dead worker must be noticed within the heartbeat timeout.
      const every = Math.max(1000, Math.floor((ctx.info.heartbeatTimeoutMs ?? 60_000) / 3));
      const timer = setInterval(() => ctx.heartbeat(details), every);
      try {
        return await withReader(async (reader) => {
          const resolved = await describe(reader, sync);
          const { columns, mapper } = resolved;
          const changeIdx = columns.indexOf(resolved.change);
          const keyIdx = resolved.tieBreaker ? columns.indexOf(resolved.tieBreaker) : undefined;
          const ledger = input.stateKey === sync.name && durationSeconds(sync.options.lookback) > 0;
          const deadline = Date.now() + Math.max(10_000, ctx.info.startToCloseTimeoutMs - 30_000);
          const page = await reader.streamPage(
            {
              table: sync.source.table,
              columns,
              change: resolved.change,
              tieBreaker: resolved.tieBreaker,
              after: input.after,
              until: input.until,
              limit: sync.options.page_size,
              eventRange: eventRangeOf(resolved, input.eventRange),
            },
            { chunkRows: deps.chunkRows },
          );

          const rejected: Counts = {};
          const warnings: Counts = {};
          /** Rejects not yet written to the state store (mapping rejects are written every `REJECT_FLUSH_ROWS`). */
          let rejects: RejectRecord[] = [];
          /** Ledger entries of the page's rejects (lookback syncs). */
          const rejectFps: { fp: string; ts: string }[] = [];
          /** Ledger entries of the events sent (lookback syncs); the refused ones are left out at the end. */
          const sentFps: { fp: string; ts: string }[] = [];
          let rowsRead = 0;
          let alreadySent = 0;
          let eventsToSend = 0;
          let lastRow: readonly SourceValue[] | undefined;

          const load = openLoad<SentEvent>({
            sender,
            limiter,
            backfill: input.backfill,
            concurrency: deps.concurrency,
            deadline,
            signal: ctx.cancellationSignal,
            onProgress: (p) => beat({ phase: 'load', rows: rowsRead, events: eventsToSend, accepted: p.accepted, requests: p.requests }),
          });
          let result: LoadResult<SentEvent>;
          try {
            for await (const rows of page) {
              rowsRead += rows.length;
              lastRow = rows[rows.length - 1];
              const events: KlaviyoEvent[] = [];
              const tags: SentEvent[] = [];
              const rejectedRows: { reject: RejectRecord; fp: string; ts: string }[] = [];
              for (const row of rows) {
                const r = mapper.map(row);
                if (r.ok) {
                  events.push(r.event);
                  tags.push({ row, uniqueId: r.event.unique_id, fp: ledger ? eventFingerprint(r.event) : '' });
                  if (r.warnings) for (const w of r.warnings) bump(warnings, w.reason);
                } else {
                  const ts = String(row[changeIdx]);
                  rejectedRows.push({
                    ts,
                    fp: ledger ? rejectFingerprint(r.key, ts) : '',
                    reject: { sync: sync.name, rowKey: r.key, reason: r.reject.reason, column: r.reject.column, detail: r.reject.detail, runId: input.runId, row: rowObject(columns, row) },
                  });
                }
              }
              let sendEvents = events;
              let sendTags = tags;
              if (ledger) {
                const known = deps.state.sentEvents(input.stateKey, [...tags.map((t) => t.fp), ...rejectedRows.map((r) => r.fp)]);
                if (known.size > 0) {
                  sendEvents = [];
                  sendTags = [];
                  tags.forEach((t, i) => {
                    if (known.has(t.fp)) return;
                    sendEvents.push(events[i]);
                    sendTags.push(t);
                  });
                  alreadySent += events.length - sendEvents.length;
                }
                for (const t of sendTags) sentFps.push({ fp: t.fp, ts: String(t.row[changeIdx]) });
                for (const r of rejectedRows) {
                  if (known.has(r.fp)) continue;
                  rejects.push(r.reject);
                  rejectFps.push({ fp: r.fp, ts: r.ts });
                  bump(rejected, r.reject.reason);
                }
              } else {
                for (const r of rejectedRows) {
                  rejects.push(r.reject);
                  bump(rejected, r.reject.reason);
                }
              }
              if (rejects.length >= REJECT_FLUSH_ROWS) {
                deps.state.recordRejects(rejects);
                rejects = [];
              }
              eventsToSend += sendEvents.length;
              beat({ phase: 'load', rows: rowsRead, events: eventsToSend });
              await load.write(sendEvents, sendTags);
            }
            result = await load.end();
          } catch (e) {
            load.abort(e);
            await page.close();
            if (e instanceof KlaviyoAuthError) throw ApplicationFailure.nonRetryable(e.message, e.name);
            if (e instanceof KlaviyoRequestError) throw ApplicationFailure.create({ message: e.message, type: e.name, nonRetryable: !e.retryable });
            if (e instanceof LoadDeadlineError) throw ApplicationFailure.retryable(e.message, e.name);
            throw e;
          }
          const apiRejected = result.rejects.filter((r) => r.reason === 'api_rejected');
          if (eventsToSend >= ALL_REJECTED_THRESHOLD && apiRejected.length === eventsToSend) {
            throw ApplicationFailure.nonRetryable(
              `Klaviyo refused all ${eventsToSend} events of the page after ${cursorText(input.after)} ` +
                `(first: ${apiRejected[0].detail}); taken for a systematic problem, so no event was recorded as rejected and the watermark did not move`,
              'KlaviyoRejectedPage',
            );
          }
          const refused = new Set<string>();
          for (const r of result.rejects) {
            const t = r.event;
            bump(rejected, r.reason);
            rejects.push({ sync: sync.name, rowKey: t.uniqueId, reason: r.reason, detail: r.detail, runId: input.runId, row: rowObject(columns, t.row) });
            if (ledger) {
              refused.add(t.fp);
              const ts = String(t.row[changeIdx]);
              rejectFps.push({ fp: rejectFingerprint(t.uniqueId, ts), ts });
            }
          }
          deps.state.recordRejects(rejects);
          if (ledger) deps.state.recordSentEvents(input.stateKey, [...(refused.size ? sentFps.filter((s) => !refused.has(s.fp)) : sentFps), ...rejectFps]);

          const last = lastRow ? cursorOf(lastRow, changeIdx, keyIdx) : null;
          let watermark = input.watermark;
          let resume = last;
          if (input.phase === 'main' && last) {
            const c = commit(deps.state, input, last, cursorSourceText(sync.source.table, resolved.change, resolved.tieBreaker));
            watermark = c.watermark;
            resume = c.resume;
            if (ledger) deps.state.forgetSentEventsBefore(input.stateKey, shiftLiteral(watermark!.ts, -durationSeconds(sync.options.lookback)));
          }
          beat({ phase: 'done', rows: rowsRead });
          return {
            rowsRead,
            eventsAccepted: result.accepted,
            duplicates: result.duplicates,
            alreadySent,
            rejected,
            warnings,
            last: resume,
            watermark,
            done: !page.more,
            requests: result.requests,
            throttled: result.throttled,
            retries: result.retries,
          };
        });
      } finally {
        clearInterval(timer);
      }
    },
  };
}

/**
 * What the loader keeps of an event while its request is unanswered: the source row (for the reject
 * record, should Klaviyo refuse the event), its unique_id and, for lookback syncs, its fingerprint.
 */
interface SentEvent {
  row: readonly SourceValue[];
  uniqueId: string;
  fp: string;
}

/**
 * Moves the watermark from `input.watermark` to `last` by compare-and-set. When the stored watermark
 * was put there by this same run (a retried attempt whose earlier attempt committed before it died),
 * the further of the two wins and the run resumes from it: both prefixes were loaded. The watermark
 * never moves backwards.
 * @throws non-retryable WatermarkConflict when another run or a reset moved the watermark.
 */
function commit(state: StateStore, input: PageInput, last: Cursor, source: string): { watermark: Cursor; resume: Cursor } {
  if (input.watermark && compareCursor(last, input.watermark, input.keyOrder) <= 0) {
    // Cannot happen for a page read after the watermark; refuse rather than move backwards.
    throw ApplicationFailure.nonRetryable(
      `refusing to move the watermark of ${input.stateKey} backwards (from ${cursorText(input.watermark)} to ${cursorText(last)})`,
      'WatermarkConflict',
    );
  }
  const outcome = state.advanceWatermark(input.stateKey, input.watermark, last, input.runId, source);
  if (outcome.status !== 'conflict') return { watermark: last, resume: last };
  if (outcome.actualRunId === input.runId && outcome.actual) {
    if (compareCursor(last, outcome.actual, input.keyOrder) <= 0) return { watermark: outcome.actual, resume: outcome.actual };
    const again = state.advanceWatermark(input.stateKey, outcome.actual, last, input.runId, source);
    if (again.status !== 'conflict') return { watermark: last, resume: last };
  }
  const now = state.getWatermark(input.stateKey);
  const who = now && now.runId === null ? 'a reset (dwh-import reset)' : `another run (${now?.runId ?? 'unknown'})`;
  throw ApplicationFailure.nonRetryable(
    `the watermark of ${input.stateKey} was moved by ${who}: expected ${cursorText(input.watermark)}, found ${cursorText(now?.cursor ?? null)}. ` +
      'This run stopped without changing it; the events of its last page were sent and are deduplicated by unique_id if sent again.',
    'WatermarkConflict',
  );
}

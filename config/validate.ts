/**
 * What `dwh-import validate` does, as a function returning a report: every sync file and the
 * connection file checked in one pass, and with `connect` the warehouse asked for each sync's table.
 */
import { existsSync } from 'node:fs';
import { openReader } from '../activities/connect.ts';
import type { SourceColumn, WarehouseReader } from '../activities/warehouse/types.ts';
import { checkSyncColumns, type SyncColumnsReport } from './columns-check.ts';
import { checkSyncs } from './discover.ts';
import { checkConnectionFile } from './load.ts';
import { isError, type ConfigProblem } from './problems.ts';
import { checkCron } from './schedule.ts';
import type { ConnectionConfig, SyncConfig } from './types.ts';

/** Options of one validation. */
export interface ValidateOptions {
  /** Sync files or folders. */
  paths: string[];
  /** The connection file; checked when it exists (required with `connect`). */
  connectionFile: string;
  /** Also check each sync against its table in the warehouse. */
  connect?: boolean;
  /** Longest wait for opening the warehouse or describing one table (ms). Default 60,000. */
  timeoutMs?: number;
  /** Opens the warehouse reader (tests inject a reader of their own; default `openReader`). */
  open?: (conn: ConnectionConfig) => Promise<WarehouseReader>;
}

/** One sync that passed, and (with `connect`) what it will read. */
export interface ValidatedSync {
  file: string;
  name: string;
  table: string;
  /** `"Placed Order"` (constant) or `from column event_name`. */
  metric: string;
  /** `cron "0 * * * *" in UTC` or `every 30m`, with `(paused)` when paused. */
  schedule: string;
  /** Next three scheduled runs (ISO 8601, UTC) of a cron schedule. */
  nextRuns?: string[];
  columns?: SyncColumnsReport;
}

/** The outcome of a validation. `ok` is false when any problem is an error. */
export interface ValidateReport {
  ok: boolean;
  errors: number;
  warnings: number;
  /** Sync files checked. */
  files: string[];
  /** Valid syncs, in file order. */
  syncs: ValidatedSync[];
  /** The connection file, when it was checked. */
  connectionFile?: string;
  connected: boolean;
  problems: ConfigProblem[];
}

function describeSync(file: string, sync: SyncConfig): ValidatedSync {
  const sch = sync.schedule;
  const v: ValidatedSync = {
    file,
    name: sync.name,
    table: sync.source.table,
    metric: sync.metric.name !== undefined ? JSON.stringify(sync.metric.name) : `from column ${sync.metric.column}`,
    schedule: `${sch.cron ? `cron "${sch.cron}" in ${sch.timezone}` : `every ${sch.interval}`}${sch.paused ? ' (paused)' : ''}`,
  };
  if (sch.cron) {
    const c = checkCron(sch.cron, sch.timezone);
    if (c.ok) v.nextRuns = c.next.map((d) => d.toISOString());
  }
  return v;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * Validates the sync files under `paths` and the connection file, and with `connect` each sync's table.
 * Never throws for a problem of the configuration or the warehouse: every one is in `problems`.
 */
export async function validateConfig(opts: ValidateOptions): Promise<ValidateReport> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const checked = checkSyncs(opts.paths);
  const problems = [...checked.problems];
  const report: ValidateReport = {
    ok: true,
    errors: 0,
    warnings: 0,
    files: checked.files.map((f) => f.file),
    syncs: checked.syncs.map((s) => describeSync(s.file, s.sync)),
    connected: false,
    problems,
  };
  let connection: ConnectionConfig | undefined;
  let connectionSource: ReturnType<typeof checkConnectionFile>['source'];
  if (existsSync(opts.connectionFile) || opts.connect) {
    const c = checkConnectionFile(opts.connectionFile);
    report.connectionFile = opts.connectionFile;
    problems.push(...c.problems);
    connection = c.config;
    connectionSource = c.source;
  }
  if (opts.connect && connection && checked.syncs.length) {
    const at = (message: string, code: string): ConfigProblem => {
      const pos = connectionSource ? connectionSource.pos(connection!.type === 'duckdb' ? ['path'] : []) : { line: 1, column: 1 };
      return { file: opts.connectionFile, ...pos, message, code };
    };
    let reader: WarehouseReader | undefined;
    if (connection.type === 'duckdb' && !existsSync(connection.path)) {
      problems.push(at(`the DuckDB database ${connection.path} does not exist`, 'warehouse'));
    } else {
      try {
        reader = await withTimeout((opts.open ?? openReader)(connection), timeoutMs, 'opening the warehouse');
      } catch (e) {
        problems.push(at(`cannot open the ${connection.type} warehouse: ${(e as Error).message}`, 'warehouse'));
      }
    }
    if (reader) {
      report.connected = true;
      try {
        for (const s of checked.syncs) {
          let columns: SourceColumn[];
          try {
            columns = await withTimeout(reader.describe(s.sync.source.table), timeoutMs, `describing ${s.sync.source.table}`);
          } catch (e) {
            const pos = s.source ? s.source.pos(['source', 'table']) : { line: 1, column: 1 };
            problems.push({ file: s.file, ...pos, message: `source.table: ${(e as Error).message}`, code: 'table-missing' });
            continue;
          }
          if (!s.source) continue;
          const r = checkSyncColumns(s.sync, s.source, columns);
          problems.push(...r.problems);
          const v = report.syncs.find((x) => x.file === s.file);
          if (v && r.report) v.columns = r.report;
        }
      } finally {
        await reader.close().catch(() => undefined);
      }
    }
  }
  // Group by file (in the order files were first named), then by position.
  const order = new Map<string, number>();
  for (const p of problems) if (!order.has(p.file)) order.set(p.file, order.size);
  const sorted = problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => order.get(a.p.file)! - order.get(b.p.file)! || a.p.line - b.p.line || a.p.column - b.p.column || a.i - b.i)
    .map((x) => x.p);
  problems.splice(0, problems.length, ...sorted);
  report.errors = problems.filter(isError).length;
  report.warnings = problems.length - report.errors;
  report.ok = report.errors === 0;
  return report;
}

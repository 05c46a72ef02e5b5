/**
 * Rules of sync and connection files that JSON Schema cannot express, each with its own message and
 * code. They run after the schema check on whatever parts of the file are well typed, so one pass
 * reports every problem; a value the schema already rejected is not reported again.
 */
import { getCountries, isSupportedCountry } from 'libphonenumber-js/max';
import { splitTableRef } from '../incremental/sql.ts';
import type { ConfigProblem } from './problems.ts';
import { checkCron, checkInterval, checkTimeZone } from './schedule.ts';
import type { SourceDoc, ValuePath } from './source.ts';
import { closest } from './suggest.ts';

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The event fields a column can feed, in file order, with their value paths. */
export const COLUMN_FIELDS: { path: string[]; label: string }[] = [
  { path: ['metric', 'column'], label: 'metric.column' },
  { path: ['mapping', 'event_timestamp'], label: 'mapping.event_timestamp' },
  { path: ['mapping', 'change_timestamp'], label: 'mapping.change_timestamp' },
  { path: ['mapping', 'profile', 'email'], label: 'mapping.profile.email' },
  { path: ['mapping', 'profile', 'phone_number'], label: 'mapping.profile.phone_number' },
  { path: ['mapping', 'profile', 'external_id'], label: 'mapping.profile.external_id' },
  { path: ['mapping', 'profile', 'klaviyo_id'], label: 'mapping.profile.klaviyo_id' },
  { path: ['mapping', 'unique_id'], label: 'mapping.unique_id' },
  { path: ['mapping', 'value'], label: 'mapping.value' },
  { path: ['mapping', 'value_currency'], label: 'mapping.value_currency' },
];

function get(value: unknown, path: readonly string[]): unknown {
  let v: unknown = value;
  for (const p of path) {
    const o = obj(v);
    if (!o) return undefined;
    v = o[p];
  }
  return v;
}

/**
 * Semantic rules of a sync file (see the module comment). `errorPaths` holds the dot-joined value
 * paths the schema already reported.
 */
export function syncRuleProblems(src: SourceDoc, errorPaths: Set<string>): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const value = obj(src.value) ?? {};
  const ok = (path: ValuePath) => !errorPaths.has(path.join('.'));
  const err = (path: ValuePath, message: string, code: string, preferKey = false) => out.push(src.problem(path, message, code, { preferKey }));
  const warn = (path: ValuePath, message: string, code: string) => out.push(src.problem(path, message, code, { severity: 'warning' }));

  // Metric: a constant or a column, never both or neither.
  const metric = obj(value.metric);
  if (metric && ok(['metric'])) {
    const hasName = metric.name !== undefined;
    const hasColumn = metric.column !== undefined;
    if (hasName && hasColumn) {
      err(['metric', src.has(['metric', 'column']) ? 'column' : 'name'], 'metric: give either "name" (one metric for every row) or "column" (the metric name per row), not both', 'metric-exclusive', true);
    } else if (!hasName && !hasColumn) {
      err(['metric'], 'metric needs "name" (one metric for every row, e.g. name: Placed Order) or "column" (the column holding each row\'s metric name)', 'metric-exclusive', true);
    } else if (typeof metric.name === 'string' && metric.name.trim() === '' && metric.name !== '') {
      err(['metric', 'name'], 'metric.name is blank', 'metric-blank');
    }
  }

  // Columns: each feeds one field; event and change timestamps differ.
  const byColumn = new Map<string, { label: string; path: string[] }>();
  const given = COLUMN_FIELDS.filter((f) => typeof get(value, f.path) === 'string' && get(value, f.path) !== '' && ok(f.path))
    .map((f) => ({ ...f, at: src.pos(f.path) }))
    .sort((a, b) => a.at.line - b.at.line || a.at.column - b.at.column);
  for (const f of given) {
    const col = get(value, f.path) as string;
    if (col !== col.trim()) warn(f.path, `${f.label} "${col}" starts or ends with spaces; column names rarely do`, 'column-whitespace');
    const key = col.trim().toLowerCase();
    const first = byColumn.get(key);
    if (!first) {
      byColumn.set(key, f);
      continue;
    }
    const labels = [first.label, f.label].sort().join(' ');
    if (labels === 'mapping.change_timestamp mapping.event_timestamp') {
      err(
        f.path,
        `${f.label} is the same column as ${first.label} ("${col}"): the change timestamp must be a different column, the one that records when the row was last inserted or changed (e.g. updated_at)`,
        'change-equals-event',
      );
    } else {
      const p = src.pos(first.path);
      err(f.path, `column "${col}" is already mapped to ${first.label} (line ${p.line}); a column feeds one event field`, 'column-mapped-twice');
    }
  }

  // Source table reference.
  const source = obj(value.source);
  const table = str(source?.table);
  if (table !== undefined && table !== '' && ok(['source', 'table'])) {
    try {
      splitTableRef(table);
    } catch (e) {
      err(['source', 'table'], `source.table: ${(e as Error).message}`, 'table-name');
    }
  }
  const tie = str(source?.tie_breaker);
  const change = str(get(value, ['mapping', 'change_timestamp']));
  if (tie !== undefined && change !== undefined && tie.toLowerCase() === change.toLowerCase() && ok(['source', 'tie_breaker'])) {
    err(['source', 'tie_breaker'], 'source.tie_breaker must be a different column than mapping.change_timestamp: it orders rows that share a change timestamp', 'tie-breaker');
  }

  // Schedule: cron or interval, valid as Temporal reads them, in a valid zone.
  const schedule = obj(value.schedule);
  if (schedule && ok(['schedule'])) {
    const cron = str(schedule.cron);
    const interval = str(schedule.interval);
    const zone = str(schedule.timezone) ?? 'UTC';
    let zoneOk = true;
    if (src.has(['schedule', 'timezone']) && typeof schedule.timezone === 'string' && ok(['schedule', 'timezone'])) {
      const m = checkTimeZone(zone);
      if (m) {
        zoneOk = false;
        err(['schedule', 'timezone'], `schedule.timezone: ${m}`, 'timezone');
      }
    }
    if (cron !== undefined && interval !== undefined && src.has(['schedule', 'cron']) && src.has(['schedule', 'interval'])) {
      err(['schedule', 'interval'], 'schedule: give either "cron" or "interval", not both', 'schedule-exclusive', true);
    } else if (cron !== undefined && ok(['schedule', 'cron'])) {
      const c = checkCron(cron, zoneOk ? zone : 'UTC');
      if (!c.ok) {
        const pos = c.offset !== undefined && c.token ? src.posInString(['schedule', 'cron'], c.offset, c.token) : src.pos(['schedule', 'cron']);
        out.push({ file: src.file, ...pos, message: `schedule.cron: ${c.message}`, code: 'cron' });
      } else if (c.andNote) {
        warn(['schedule', 'cron'], `schedule.cron: ${c.andNote}`, 'cron-day-and');
      }
    } else if (interval !== undefined && ok(['schedule', 'interval'])) {
      const i = checkInterval(interval);
      if (!i.ok) err(['schedule', 'interval'], `schedule.interval: ${i.message}`, 'interval');
      else if (src.has(['schedule', 'timezone']) && zoneOk && zone !== 'UTC') {
        warn(
          ['schedule', 'timezone'],
          `schedule.timezone has no effect on an interval (runs every ${interval} counted from the Unix epoch); use cron for runs at a wall-clock time in ${zone}`,
          'timezone-unused',
        );
      }
    }
  }

  // Options.
  const options = obj(value.options);
  if (options) {
    const tz = str(options.timestamp_zone);
    if (tz !== undefined && src.has(['options', 'timestamp_zone']) && ok(['options', 'timestamp_zone'])) {
      const m = checkTimeZone(tz);
      if (m) err(['options', 'timestamp_zone'], `options.timestamp_zone: ${m}`, 'timezone');
    }
    const region = str(options.default_phone_region);
    if (region !== undefined && /^[A-Z]{2}$/.test(region) && !isSupportedCountry(region)) {
      const alias: Record<string, string> = { UK: 'GB', EL: 'GR' };
      const near = alias[region] ?? closest(region, getCountries());
      err(['options', 'default_phone_region'], `options.default_phone_region "${region}" is not a region code phone numbers use${near ? `; did you mean "${near}"?` : ''}`, 'phone-region');
    }
    if (str(options.settle_delay) === '0s' && src.has(['options', 'settle_delay'])) {
      warn(['options', 'settle_delay'], 'options.settle_delay is 0s: rows of transactions that commit while a run reads can be skipped for good; a few minutes is safe', 'settle-delay');
    }
  }
  return out;
}

/** Rules of the connection file beyond its schema. */
export function connectionRuleProblems(src: SourceDoc, errorPaths: Set<string>): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const value = obj(src.value) ?? {};
  if (value.type !== 'snowflake') return out;
  const auth = obj(value.auth);
  if (auth && !errorPaths.has('auth')) {
    const hasPw = auth.password_env !== undefined;
    const hasKey = auth.private_key_file !== undefined;
    if (hasPw && hasKey) {
      out.push(src.problem(['auth', 'private_key_file'], 'auth: give either password_env or private_key_file, not both', 'auth-exclusive', { preferKey: true }));
    } else if (!hasPw && !hasKey) {
      out.push(src.problem(['auth'], 'auth needs password_env (an environment variable holding the password) or private_key_file (key-pair authentication)', 'auth-exclusive', { preferKey: true }));
    } else if (hasPw && auth.private_key_passphrase_env !== undefined) {
      out.push(src.problem(['auth', 'private_key_passphrase_env'], 'auth.private_key_passphrase_env only applies with private_key_file', 'auth-exclusive', { preferKey: true }));
    }
  }
  const account = str(value.account);
  if (account && /snowflakecomputing\.com|^https?:\/\//i.test(account)) {
    out.push(src.problem(['account'], 'account is the account identifier only (e.g. myorg-myaccount), not a URL or host name', 'snowflake-account'));
  }
  return out;
}

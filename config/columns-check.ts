/**
 * Checks of a sync against the columns of its source table as the warehouse describes them
 * (`validate --connect`): every mapped column exists (names resolve as the mapper resolves them: exactly,
 * then case-insensitively), its kind fits the field it feeds, and the columns that become properties
 * build a well-formed property tree (`a___b` nests `b` under `a`, so a plain column `a` next to it
 * would collide). Pure: the caller describes the table.
 */
import type { ColumnKind, SourceColumn } from '../activities/warehouse/types.ts';
import { LIMITS, compileMapper } from '../mapping/map-row.ts';
import type { ConfigProblem } from './problems.ts';
import { COLUMN_FIELDS } from './rules.ts';
import type { SourceDoc, ValuePath } from './source.ts';
import { closest } from './suggest.ts';
import type { SyncConfig } from './types.ts';

/** A mapped field and the column that feeds it. */
export interface FieldColumn {
  /** `mapping.event_timestamp`, `metric.column`, `source.tie_breaker`, ... */
  field: string;
  column: string;
  sqlType: string;
  kind: ColumnKind;
}

/** A column that becomes an event property. */
export interface PropertyColumn {
  column: string;
  /** Key path inside `properties` (`shipping___city` -> `['shipping', 'city']`). */
  path: string[];
  sqlType: string;
}

/** What `--connect` learnt about one sync's table. */
export interface SyncColumnsReport {
  table: string;
  columnCount: number;
  fields: FieldColumn[];
  properties: PropertyColumn[];
}

interface KindRule {
  ok: ColumnKind[];
  /** Kinds accepted with a warning, and why. */
  warn?: { kinds: ColumnKind[]; message: (c: SourceColumn, sync: SyncConfig) => string };
  /** What the field needs, for the error message. */
  need: string;
  /** Whole-number DECIMAL/NUMBER(p,0) columns count as integers. */
  integralDecimal?: boolean;
}

const TS: ColumnKind[] = ['timestamp_ntz', 'timestamp_tz', 'date'];

const RULES: Record<string, KindRule> = {
  'metric.column': { ok: ['text'], need: 'a text column holding metric names' },
  'mapping.event_timestamp': {
    ok: ['timestamp_ntz', 'timestamp_tz'],
    warn: {
      kinds: ['date', 'text'],
      message: (c, s) =>
        c.kind === 'date'
          ? `column "${c.name}" is a DATE: every event gets midnight in ${s.options.timestamp_zone} as its time (date-triggered flows may fire a day off); map a timestamp column if there is one`
          : `column "${c.name}" is text (${c.sqlType}): each value is parsed as an ISO 8601 timestamp and rows that do not parse are rejected`,
    },
    need: 'a TIMESTAMP, TIMESTAMP_TZ or DATE column (or ISO 8601 text)',
  },
  'mapping.change_timestamp': { ok: TS, need: 'a TIMESTAMP, TIMESTAMP_TZ or DATE column (incremental reads compare it)' },
  'mapping.profile.email': { ok: ['text'], need: 'a text column' },
  'mapping.profile.phone_number': {
    ok: ['text'],
    warn: {
      kinds: ['integer'],
      message: (c, s) => `column "${c.name}" is a number (${c.sqlType}): a leading + or 0 is lost, so numbers are read in region ${s.options.default_phone_region}; a text column is safer`,
    },
    need: 'a text column',
    integralDecimal: true,
  },
  'mapping.profile.external_id': { ok: ['text', 'integer'], need: 'a text or integer column', integralDecimal: true },
  'mapping.profile.klaviyo_id': { ok: ['text'], need: 'a text column (Klaviyo profile ids look like 01GDDKASAP8TKDDA2GRZDSVP4H)' },
  'mapping.unique_id': { ok: ['text', 'integer'], need: 'a text or integer column', integralDecimal: true },
  'mapping.value': {
    ok: ['integer', 'decimal', 'float'],
    warn: { kinds: ['text'], message: (c) => `column "${c.name}" is text (${c.sqlType}): numeric text is read exactly, rows with other text are rejected` },
    need: 'a numeric column (or numeric text)',
  },
  'mapping.value_currency': { ok: ['text'], need: 'a text column of ISO 4217 codes' },
  'source.tie_breaker': { ok: ['text', 'integer', 'decimal'], need: 'a text or numeric column that orders rows' },
};

function isIntegralDecimal(c: SourceColumn): boolean {
  return c.kind === 'decimal' && /^(DECIMAL|NUMERIC|NUMBER)\s*\(\s*\d+\s*,\s*0\s*\)$/i.test(c.sqlType);
}

/** Index of the column `name` resolves to (exact, then case-insensitive), or why it does not resolve. */
export function resolveColumn(columns: readonly SourceColumn[], name: string, table: string): { index: number } | { error: string } {
  const exact = columns.findIndex((c) => c.name === name);
  if (exact >= 0) return { index: exact };
  const ci = columns.map((c, i) => ({ c, i })).filter((x) => x.c.name.toLowerCase() === name.toLowerCase());
  if (ci.length === 1) return { index: ci[0].i };
  if (ci.length > 1) return { error: `column "${name}" matches ${ci.map((x) => `"${x.c.name}"`).join(' and ')} of ${table}, which differ only in case: write the exact name` };
  const near = closest(name, columns.map((c) => c.name));
  return { error: `column "${name}" does not exist in ${table}${near ? `; did you mean "${near}"?` : ''}` };
}

/**
 * Checks a sync against its table's columns.
 * @returns problems placed on the YAML nodes of `src` (mapped fields; `source.table` for problems of
 * the table's own columns) and, when every mapped column resolves, what the sync will read.
 */
export function checkSyncColumns(sync: SyncConfig, src: SourceDoc, columns: readonly SourceColumn[]): { problems: ConfigProblem[]; report?: SyncColumnsReport } {
  const problems: ConfigProblem[] = [];
  const err = (path: ValuePath, message: string, code: string) => problems.push(src.problem(path, message, code));
  const warn = (path: ValuePath, message: string, code: string) => problems.push(src.problem(path, message, code, { severity: 'warning' }));
  const table = sync.source.table;
  const fields: FieldColumn[] = [];
  const mapped = new Set<number>();
  let unresolved = false;
  const wanted: { field: string; path: string[]; name: string }[] = [];
  for (const f of COLUMN_FIELDS) {
    let v: unknown = sync;
    for (const p of f.path) v = (v as Record<string, unknown> | undefined)?.[p];
    if (typeof v === 'string') wanted.push({ field: f.label, path: f.path, name: v });
  }
  if (sync.source.tie_breaker) wanted.push({ field: 'source.tie_breaker', path: ['source', 'tie_breaker'], name: sync.source.tie_breaker });

  for (const w of wanted) {
    const r = resolveColumn(columns, w.name, table);
    if ('error' in r) {
      unresolved = true;
      err(w.path, `${w.field}: ${r.error}`, 'column-missing');
      continue;
    }
    const c = columns[r.index];
    if (w.field !== 'source.tie_breaker') mapped.add(r.index);
    fields.push({ field: w.field, column: c.name, sqlType: c.sqlType, kind: c.kind });
    const rule = RULES[w.field];
    if (rule.ok.includes(c.kind) || (rule.integralDecimal && isIntegralDecimal(c))) continue;
    if (rule.warn?.kinds.includes(c.kind)) warn(w.path, `${w.field}: ${rule.warn.message(c, sync)}`, 'column-type');
    else err(w.path, `${w.field}: column "${c.name}" has type ${c.sqlType}; ${w.field} needs ${rule.need}`, 'column-type');
  }

  // Columns that become properties: as the mapper decides when it compiles, else every unmapped column.
  let propertyNames: string[];
  try {
    propertyNames = unresolved ? columns.filter((_, i) => !mapped.has(i)).map((c) => c.name) : [...compileMapper(sync, columns).propertyColumns];
  } catch {
    propertyNames = columns.filter((_, i) => !mapped.has(i)).map((c) => c.name);
  }
  const byName = new Map(columns.map((c) => [c.name, c]));
  const properties: PropertyColumn[] = propertyNames.map((name) => ({ column: name, path: name.split('___'), sqlType: byName.get(name)?.sqlType ?? '' }));
  problems.push(...propertyProblems(src, table, properties));
  return { problems, report: unresolved ? undefined : { table, columnCount: columns.length, fields, properties } };
}

/**
 * Problems of the property tree: a path that is also the prefix of another (`shipping` and
 * `shipping___city`: one would overwrite the other), empty keys (`a______b`, `___a`), nesting deeper
 * than Klaviyo accepts, more property columns than an event may carry (klaviyo-api.md limits).
 */
function propertyProblems(src: SourceDoc, table: string, properties: PropertyColumn[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const at = ['source', 'table'];
  const full = new Map<string, PropertyColumn>();
  for (const p of properties) full.set(p.path.join('\u0000'), p);
  const reported = new Set<string>();
  for (const p of properties) {
    for (let n = 1; n < p.path.length; n++) {
      const prefix = full.get(p.path.slice(0, n).join('\u0000'));
      if (prefix && !reported.has(prefix.column)) {
        reported.add(prefix.column);
        out.push(
          src.problem(
            at,
            `property columns of ${table} collide: "${prefix.column}" is the property ${prefix.path.join('.')} while "${p.column}" nests ${p.path.join('.')} inside it; one would overwrite the other. Rename one of them in the table or view`,
            'property-collision',
          ),
        );
      }
    }
    if (p.path.some((s) => s === '')) {
      out.push(src.problem(at, `property column "${p.column}" of ${table} has an empty key in its path (${p.path.map((s) => s || '""').join('.')}): "___" separates keys, so it must not start or end the name or appear twice in a row`, 'property-path', { severity: 'warning' }));
    }
    if (p.path.length > LIMITS.nestingDepth) {
      out.push(src.problem(at, `property column "${p.column}" nests ${p.path.length} levels deep; Klaviyo accepts at most ${LIMITS.nestingDepth} levels of nesting`, 'property-depth', { severity: 'warning' }));
    }
  }
  if (properties.length > LIMITS.propertyKeys) {
    out.push(
      src.problem(
        at,
        `${table} has ${properties.length} property columns; an event carries at most ${LIMITS.propertyKeys} properties, so rows with more non-NULL values than that are rejected (select fewer columns in a view)`,
        'property-count',
        { severity: 'warning' },
      ),
    );
  }
  return out;
}

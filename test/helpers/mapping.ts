/** Building syncs and column layouts for pure mapping tests (no server). */
import type { SyncConfig } from '../../config/types.ts';
import type { ColumnKind, SourceColumn } from '../../activities/warehouse/types.ts';

/** A fully defaulted sync; `over` replaces top-level parts, `mapping`/`options` are merged. */
export function syncOf(over: {
  name?: string;
  metric?: SyncConfig['metric'];
  mapping?: Partial<SyncConfig['mapping']>;
  options?: Partial<SyncConfig['options']>;
} = {}): SyncConfig {
  return {
    name: over.name ?? 'test-sync',
    source: { table: 'events.orders' },
    metric: over.metric ?? { name: 'Placed Order' },
    mapping: {
      event_timestamp: 'ts',
      change_timestamp: 'updated_at',
      profile: { email: 'email' },
      ...over.mapping,
    },
    schedule: { timezone: 'UTC', paused: false },
    options: {
      page_size: 5000,
      settle_delay: '5m',
      lookback: '0s',
      timestamp_zone: 'UTC',
      default_phone_region: 'US',
      backfill: false,
      ...over.options,
    },
  };
}

const SQL: Record<ColumnKind, string> = {
  text: 'VARCHAR',
  integer: 'BIGINT',
  decimal: 'DECIMAL(18,2)',
  float: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp_ntz: 'TIMESTAMP',
  timestamp_tz: 'TIMESTAMP WITH TIME ZONE',
  date: 'DATE',
  time: 'TIME',
  json: 'JSON',
  structured: 'STRUCT',
  binary: 'BLOB',
  other: 'INTERVAL',
};

/** Columns from `name:kind` pairs, e.g. cols('ts:timestamp_ntz', 'email:text'). */
export function cols(...specs: string[]): SourceColumn[] {
  return specs.map((s) => {
    const i = s.lastIndexOf(':');
    const kind = s.slice(i + 1) as ColumnKind;
    return { name: s.slice(0, i), kind, sqlType: SQL[kind] };
  });
}

/** A fixed clock: 2026-01-15T12:00:00Z. */
export const NOW = Date.UTC(2026, 0, 15, 12);
export const now = () => NOW;

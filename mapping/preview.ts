/**
 * What `dwh-import preview` shows, as pure code: rows mapped to the wire form they would be sent in
 * (Klaviyo's bulk body shape, `loading/bulk.ts`), the rejects with their reasons and values, and what the
 * loader would make of the events (requests, bytes, repeated unique_ids). Nothing here sends anything.
 */
import type { SourceColumn, SourceValue } from '../activities/warehouse/types.ts';
import { buildBatches, wireEvent, type WireEvent, type WireProfileGroup } from '../loading/bulk.ts';
import type { RowMapper } from './map-row.ts';
import type { KlaviyoEvent, MapWarning, ProfileIdentifiers, Reject } from './types.ts';

/** One previewed row (`row` is 1-based, in cursor order). */
export type PreviewRow =
  | { row: number; ok: true; unique_id: string; profile: WireProfileGroup['attributes']['profile']; event: WireEvent; warnings?: MapWarning[] }
  | { row: number; ok: false; key: string; reject: Reject; values: Record<string, SourceValue> };

/** The whole preview. */
export interface Preview {
  rows: PreviewRow[];
  events: number;
  /** Rejected rows by reason code. */
  rejected: Record<string, number>;
  /** Dropped identifiers by reason code (the event was still produced). */
  warnings: Record<string, number>;
  /** What the loader would send: bulk requests, their total bytes, repeated (profile, metric, unique_id) dropped. */
  requests: number;
  bytes: number;
  duplicates: number;
  /** The request bodies, exactly as they would be POSTed to /api/event-bulk-create-jobs. */
  bodies: unknown[];
}

/** The profile part of a bulk entry (`data.id` is the Klaviyo profile id, when mapped). */
export function wireProfile(p: ProfileIdentifiers): WireProfileGroup['attributes']['profile'] {
  const { id, ...attributes } = p;
  return { data: id ? { type: 'profile', id, attributes } : { type: 'profile', attributes } };
}

function bump(counts: Record<string, number>, k: string): void {
  counts[k] = (counts[k] ?? 0) + 1;
}

/**
 * Maps rows and describes what a run would send for them.
 * @param backfill whether events would carry Klaviyo's `backfill: true`
 */
export function previewRows(mapper: RowMapper, columns: readonly SourceColumn[], rows: readonly (readonly SourceValue[])[], backfill: boolean): Preview {
  const out: PreviewRow[] = [];
  const events: KlaviyoEvent[] = [];
  const rejected: Record<string, number> = {};
  const warnings: Record<string, number> = {};
  rows.forEach((values, i) => {
    const r = mapper.map(values);
    if (r.ok) {
      events.push(r.event);
      for (const w of r.warnings ?? []) bump(warnings, w.reason);
      out.push({ row: i + 1, ok: true, unique_id: r.event.unique_id, profile: wireProfile(r.event.profile), event: wireEvent(r.event, backfill), ...(r.warnings ? { warnings: r.warnings } : {}) });
    } else {
      bump(rejected, r.reject.reason);
      const named: Record<string, SourceValue> = {};
      columns.forEach((c, j) => (named[c.name] = values[j]));
      out.push({ row: i + 1, ok: false, key: r.key, reject: r.reject, values: named });
    }
  });
  const batching = buildBatches(events, { backfill });
  return {
    rows: out,
    events: events.length,
    rejected,
    warnings,
    requests: batching.batches.length,
    bytes: batching.batches.reduce((n, b) => n + b.bytes, 0),
    duplicates: batching.duplicates.length,
    bodies: batching.batches.map((b) => JSON.parse(b.body())),
  };
}

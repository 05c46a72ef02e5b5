/**
 * The event model this tool produces (one per source row) and the reject that replaces it when a row
 * cannot become a valid Klaviyo event. Field names are Klaviyo's wire names.
 */

/** Profile identifiers of an event; at least one is present. `id` is the Klaviyo profile id. */
export interface ProfileIdentifiers {
  email?: string;
  phone_number?: string;
  external_id?: string;
  id?: string;
}

/** One Klaviyo event, ready to be batched. */
export interface KlaviyoEvent {
  /** Metric name, 1 to 127 characters. */
  metric: string;
  /** ISO 8601 instant in UTC, e.g. `2024-05-01T10:00:00.123Z`. */
  time: string;
  profile: ProfileIdentifiers;
  /** 1 to 255 characters; the column's value or a deterministic hash of the sync and the row. */
  unique_id: string;
  value?: number;
  /** ISO 4217 code, upper case. */
  value_currency?: string;
  /** Every unmapped, non-NULL column (nested by `___`). */
  properties: Record<string, unknown>;
}

/** Stable reject reason codes (part of the public contract: they appear in results, metrics and `rejects`). */
export type RejectReason =
  | 'missing_metric'
  | 'metric_too_long'
  | 'invalid_timestamp'
  | 'timestamp_out_of_range'
  | 'missing_identifier'
  | 'invalid_email'
  | 'invalid_phone'
  | 'invalid_external_id'
  | 'invalid_profile_id'
  | 'invalid_unique_id'
  | 'invalid_value'
  | 'invalid_currency'
  | 'property_limit'
  | 'payload_too_large'
  | 'null_change_timestamp'
  | 'api_rejected';

/** Why a row did not become an event. `column` names the source column concerned, when one is. */
export interface Reject {
  reason: RejectReason;
  column?: string;
  detail: string;
}

/** A problem that dropped part of a row without rejecting it (e.g. one bad identifier of several). */
export interface MapWarning {
  reason: string;
  column: string;
}

/** The outcome of mapping one row: an event, or a reject. `key` identifies the row (its unique_id). */
export type MapResult =
  | { ok: true; key: string; event: KlaviyoEvent; warnings?: MapWarning[] }
  | { ok: false; key: string; reject: Reject };

/**
 * The event model this tool produces (one per source row) and the reject that replaces it when a row
 * cannot become a valid Klaviyo event. Field names are Klaviyo's wire names. The rules that produce
 * them are documented in `mapping/README.md`.
 */

/** Profile identifiers of an event; at least one is present. `id` is the Klaviyo profile id. */
export interface ProfileIdentifiers {
  /** Trimmed, valid per validator's `isEmail`, under 100 characters. */
  email?: string;
  /** E.164, e.g. `+442079460018`. */
  phone_number?: string;
  /** Trimmed text; integral numbers without a trailing `.0`. */
  external_id?: string;
  /** Klaviyo profile id: a 26-character ULID, upper case. */
  id?: string;
}

/** One Klaviyo event, ready to be batched. */
export interface KlaviyoEvent {
  /** Metric name, 1 to 127 characters, trimmed. */
  metric: string;
  /**
   * The event time as an ISO 8601 instant in UTC with milliseconds, always 24 characters:
   * `2024-05-01T10:00:00.123Z`. Finer digits of the source are truncated (never rounded), so the second
   * Klaviyo keeps (it truncates to the second) is always the source's second.
   */
  time: string;
  profile: ProfileIdentifiers;
  /** 1 to 255 characters; the column's value or a deterministic hash of the sync and the row (43 characters). */
  unique_id: string;
  /** A JSON number whose shortest text is exactly the source's decimal value. */
  value?: number;
  /** ISO 4217 code, upper case. */
  value_currency?: string;
  /** Every unmapped, non-NULL, non-empty column (nested by `___`). */
  properties: Record<string, unknown>;
}

/**
 * Stable reject reason codes (part of the public contract: they appear in run results, the state
 * store's rejects and `dwh-import preview`). See `mapping/README.md` for when each one applies.
 */
export const REJECT_REASONS = [
  'missing_metric',
  'metric_too_long',
  'invalid_timestamp',
  'timestamp_out_of_range',
  'missing_identifier',
  'invalid_email',
  'invalid_phone',
  'invalid_external_id',
  'invalid_profile_id',
  'invalid_unique_id',
  'invalid_value',
  'inexact_value',
  'invalid_currency',
  'property_limit',
  'string_too_long',
  'array_too_long',
  'nesting_too_deep',
  'integer_out_of_range',
  'payload_too_large',
  'null_change_timestamp',
  'api_rejected',
  'mapping_failed',
] as const;

/** One of `REJECT_REASONS` (grouped by rule in `mapping/README.md`). */
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Why a row did not become an event. `column` names the source column concerned, when one is. */
export interface Reject {
  reason: RejectReason;
  /** The source column concerned (several, comma-separated, for `missing_identifier`). */
  column?: string;
  /** One sentence a data engineer understands at a glance: the value, the rule, the fix when there is one. */
  detail: string;
}

/**
 * Stable warning codes: a problem that dropped part of a row while its event was still produced.
 * - `invalid_email` / `invalid_phone` / `invalid_external_id` / `invalid_profile_id`: that identifier was
 *   dropped, another valid one carried the event (rule 3);
 * - `missing_unique_id`: the mapped unique_id column was NULL or empty, the derived hash was sent instead.
 */
export type WarningReason = 'invalid_email' | 'invalid_phone' | 'invalid_external_id' | 'invalid_profile_id' | 'missing_unique_id';

/** A problem that dropped part of a row without rejecting it (e.g. one bad identifier of several). */
export interface MapWarning {
  reason: WarningReason;
  column: string;
  detail?: string;
}

/** The outcome of mapping one row: an event, or a reject. `key` identifies the row (its unique_id). */
export type MapResult =
  | { ok: true; key: string; event: KlaviyoEvent; warnings?: MapWarning[] }
  | { ok: false; key: string; reject: Reject };

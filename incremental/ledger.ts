/**
 * Fingerprints for the ledger of settled rows (`StateStore.sentEvents`): kept only for syncs with a
 * lookback, for the rows whose change timestamp lies inside the lookback window behind the watermark.
 * Re-reading that window then sends only the rows that were not settled before (late rows), instead
 * of re-sending the whole window each run.
 *
 * - an event's fingerprint covers what Klaviyo deduplicates on (metric, profile identifiers, unique_id):
 *   an event whose fingerprint is known would be dropped by Klaviyo as a repeat anyway;
 * - a reject's fingerprint covers the row's key and change timestamp: the same version of a row
 *   rejected again is not recorded or counted twice, while an updated row (new change timestamp) is
 *   mapped and judged afresh.
 *
 * Pure code (node:crypto).
 */
import { createHash } from 'node:crypto';
import type { KlaviyoEvent } from '../mapping/types.ts';

function digest(parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(p);
    h.update('\u0000');
  }
  return h.digest('base64url').slice(0, 27); // 160 bits
}

/** Fingerprint of an event as Klaviyo deduplicates it: `e:` + hash(metric, profile identifiers, unique_id). */
export function eventFingerprint(e: KlaviyoEvent): string {
  const p = e.profile;
  return `e:${digest([e.metric, p.id ?? '', p.email ?? '', p.phone_number ?? '', p.external_id ?? '', e.unique_id])}`;
}

/** Fingerprint of a rejected version of a row: `r:` + hash(row key, change timestamp literal). */
export function rejectFingerprint(rowKey: string, changeTs: string): string {
  return `r:${digest([rowKey, changeTs])}`;
}

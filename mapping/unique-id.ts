/**
 * The derived unique_id (DESIGN.md rule 4, pitfall 4): when a sync maps no unique_id column (or the
 * column is NULL in a row), the event's unique_id is a hash of the sync and the row's content, so a row
 * read again (a retried page, a lookback window, a backfill over loaded rows) is deduplicated by Klaviyo
 * instead of doubled.
 *
 * What goes in, and why:
 * - the sync name: two syncs never share ids by accident;
 * - every column except the change-detection timestamp, as (column name, value) pairs sorted by column
 *   name: a row that is re-written without changing its content (an upsert that only bumps
 *   `updated_at`) keeps its id and is not sent twice; a row whose content changed is a new event;
 *   reordering the view's columns changes nothing;
 * - NULL values are left out (like NULL properties), so adding a nullable column to the view does not
 *   change the ids of existing rows while it is NULL for them;
 * - values as the reader gives them (before mapping), so a library upgrade that normalises phone numbers
 *   differently does not change ids.
 * Consequence: rows identical in every column but the change timestamp are one event for Klaviyo. When
 * such rows are distinct events (two identical line items), map a unique_id column.
 *
 * Format: SHA-256, base64url without padding: 43 characters of `[A-Za-z0-9_-]`.
 */
import * as crypto from 'node:crypto';
import type { SourceColumn, SourceValue } from '../activities/warehouse/types.ts';

const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'base64url') => string }).hash;

function sha256(text: string): string {
  if (oneShot) return oneShot('sha256', text, 'base64url');
  return crypto.createHash('sha256').update(text).digest('base64url');
}

/** Appends one non-NULL value, tagged by type and length-prefixed so no two rows share a text. */
function appendValue(text: string, v: SourceValue): string {
  switch (typeof v) {
    case 'string':
      return text + 's' + v.length + ':' + v;
    case 'number':
      return text + 'n' + v + ';';
    case 'boolean':
      return text + (v ? 't' : 'f');
    case 'bigint':
      return text + 'n' + (v as bigint).toString() + ';';
    default: {
      let j: string | undefined;
      try {
        j = JSON.stringify(v);
      } catch {
        j = String(v);
      }
      j ??= String(v);
      return text + 'j' + j.length + ':' + j;
    }
  }
}

/**
 * Compiles the derived-id function for one sync and column layout.
 * @param excluded column indexes left out (the change-detection timestamp)
 * @returns `(row) => id`, 43 characters, deterministic across processes and runs.
 */
export function derivedUniqueId(syncName: string, columns: readonly SourceColumn[], excluded: ReadonlySet<number>): (row: readonly SourceValue[]) => string {
  const order = columns
    .map((c, i) => ({ name: c.name, i }))
    .filter((c) => !excluded.has(c.i))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.i - b.i));
  const idx = order.map((c) => c.i);
  const prefix = order.map((c) => `${c.name.length}:${c.name}=`);
  const head = `dwh-import/1\u0000${syncName.length}:${syncName}`;
  return (row) => {
    let text = head;
    for (let k = 0; k < idx.length; k++) {
      const v = row[idx[k]];
      if (v === null || v === undefined) continue;
      text = appendValue(text + prefix[k], v);
    }
    return sha256(text);
  };
}

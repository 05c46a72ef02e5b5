/**
 * Masking of row values in operator output (`dwh-import rejects`). Every row value is treated as
 * possibly personal data (emails, phone numbers, external ids, free text), so by default values are
 * shown only by their shape: letters become `x`/`X`, digits `9`, every other character (spaces, `@`,
 * `.`, `+`, `-`, brackets) is kept, and long text is cut. The shape is what explains most rejects
 * (a missing `@`, a stray space, a phone number without country code) without showing the value.
 */

/** Longest masked text shown (characters); longer text ends with `...(N chars)`. */
export const MASK_MAX = 48;

/** Format-preserving mask of a text: `Ann@Example.org` -> `Xxx@Xxxxxxx.xxx`, `+49 (0)30 12` -> `+99 (9)99 99`. */
export function maskText(s: string, max = MASK_MAX): string {
  const masked = s.replace(/\p{L}|\p{N}/gu, (c) => (/\p{N}/u.test(c) ? '9' : /\p{Lu}/u.test(c) ? 'X' : 'x'));
  return masked.length > max ? `${masked.slice(0, max)}...(${s.length} chars)` : masked;
}

/** A row value for display: strings, numbers and JSON masked by shape; NULL and booleans as they are. */
export function maskValue(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(maskText(v));
  if (typeof v === 'number' || typeof v === 'bigint') return maskText(String(v));
  return maskText(JSON.stringify(v));
}

/** A row value shown in full. */
export function showValue(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return JSON.stringify(v);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/**
 * A reject's detail text with the values it quotes masked: every `"..."` segment that is not the
 * name of one of the row's columns, and every value of the row that appears in the text.
 */
export function maskDetail(detail: string, row?: Record<string, unknown>): string {
  let out = detail;
  const values = Object.values(row ?? {})
    .filter((v): v is string | number => (typeof v === 'string' && v.trim().length >= 3) || (typeof v === 'number' && String(v).length >= 3))
    .map(String)
    .sort((a, b) => b.length - a.length);
  for (const v of values) out = out.split(v).join(maskText(v));
  // Quoted text is a value unless it names a column of the row (`"email", "phone" are all NULL`).
  const columns = new Set(Object.keys(row ?? {}).map((k) => k.toLowerCase()));
  return out.replace(/"([^"]*)"/g, (m, inner: string) => (columns.has(inner.toLowerCase()) ? m : `"${maskText(inner)}"`));
}

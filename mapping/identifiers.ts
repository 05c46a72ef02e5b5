/**
 * Profile identifiers (DESIGN.md rule 3, pitfall 7) and id-like text (unique_id, metric from a column).
 * Each normaliser returns the identifier to send, `null` when the value is missing (NULL, empty or only
 * white space: not a problem, nothing to send), or `false` when it is present but invalid (dropped and
 * counted as a warning; the row is rejected only when no valid identifier remains). Pure code; results
 * of the costly checks (email, phone) are cached per process, as the same customers recur across rows.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import validator from 'validator';
import type { SourceValue } from '../activities/warehouse/types.ts';

/** Klaviyo: an email must be under 100 characters (klaviyo-api.md "Validation and limits"). */
export const EMAIL_MAX_CHARS = 99;
/**
 * Klaviyo: the profile object at most 95 KB. Email (< 100 characters), E.164 phone (<= 16) and profile id
 * (26) are small, so an external_id within this many UTF-8 bytes keeps the whole profile under 95 KB.
 */
export const EXTERNAL_ID_MAX_BYTES = 95 * 1024 - 1024;

const CACHE_LIMIT = 50_000;
/** Raw value (as read, untrimmed) -> the email to send, or false. */
const emailCache = new Map<string, string | false>();
/** Per default region: raw text -> E.164 or false. */
const phoneCaches = new Map<string, Map<string, string | false>>();

function remember<V>(cache: Map<string, V>, key: string, value: V): V {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
  return value;
}

/** The decimal text of a number, integral values without `.0` and without exponent (`17850.0` -> `17850`). */
export function numberText(n: number): string {
  if (Number.isInteger(n)) return Number.isSafeInteger(n) ? String(n) : BigInt(n).toString();
  return String(n);
}

const INTEGRAL_TEXT = /^[+-]?\d+\.0*$/;

/**
 * An id-like value as text: strings trimmed, with an integral `17850.0` written `17850` (ids exported
 * through a float column); numbers without `.0`; booleans and JSON values as their JSON text.
 * `null` for NULL, empty or white-space-only values; `false` for NaN and infinities.
 */
export function idText(v: SourceValue): string | null | false {
  switch (typeof v) {
    case 'string': {
      let t = v.trim();
      if (t === '') return null;
      if (INTEGRAL_TEXT.test(t)) {
        const dot = t.indexOf('.');
        if (dot > 0) t = t.slice(0, dot);
        if (t.charCodeAt(0) === 43 /* + */) t = t.slice(1);
        if (t === '-0') t = '0';
      }
      return t;
    }
    case 'number':
      return Number.isFinite(v) ? numberText(v) : false;
    case 'boolean':
      return String(v);
    case 'bigint':
      return (v as bigint).toString();
    case 'object':
      if (v === null) return null;
      try {
        return JSON.stringify(v) ?? false;
      } catch {
        return false;
      }
    default:
      return false;
  }
}

/**
 * An email address: trimmed (case kept), valid per validator's `isEmail` with no white space inside,
 * and under 100 characters (Klaviyo's limit).
 */
export function normalizeEmail(v: SourceValue): string | null | false {
  if (v === null) return null;
  if (typeof v !== 'string') return false;
  const hit = emailCache.get(v);
  if (hit !== undefined) return hit;
  const e = v.trim();
  if (e === '') return null;
  const out = e.length <= EMAIL_MAX_CHARS && !/\s/.test(e) && validator.isEmail(e) ? e : false;
  return remember(emailCache, v, out);
}

const DIGITS_ONLY = /^[1-9]\d{10,14}$/;

/**
 * A phone number in E.164 (`+442079460018`), parsed by libphonenumber-js (full metadata, `isValid()`)
 * with `region` for numbers written without a country code. Accepted forms include
 * `+49 (0)30 1234567` (the `(0)` trunk prefix is dropped), `020 7946 0018` (region GB), and
 * `0044 20 1234 5678` (the ITU international prefix `00` is read as `+` even where the region's own
 * prefix differs, e.g. `011` in the US). An extension (`ext. 2`) is not part of E.164 and is left out.
 * Digits only with 11 to 15 digits and no leading 0 (E.164 stored without `+`, e.g. in a NUMBER column)
 * are read as international when they are not a valid national number of `region`.
 */
export function normalizePhone(v: SourceValue, region: CountryCode): string | null | false {
  let raw: string;
  if (typeof v === 'string') raw = v.trim();
  else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v <= 0) return false;
    raw = String(v);
  } else if (v === null) return null;
  else return false;
  if (raw === '') return null;
  if (raw.length > 64) return false;
  let cache = phoneCaches.get(region);
  if (cache === undefined) phoneCaches.set(region, (cache = new Map()));
  const hit = cache.get(raw);
  if (hit !== undefined) return hit;
  let out: string | false = parsePhone(raw, region);
  if (out === false && raw.startsWith('00')) out = parsePhone(`+${raw.slice(2)}`, region);
  if (out === false && DIGITS_ONLY.test(raw)) out = parsePhone(`+${raw}`, region);
  return remember(cache, raw, out);
}

function parsePhone(raw: string, region: CountryCode): string | false {
  try {
    const p = parsePhoneNumberFromString(raw, region);
    return p && p.isValid() ? p.number : false;
  } catch {
    return false;
  }
}

/**
 * An external id: `idText` (trimmed, integral numbers without `.0`), at most `EXTERNAL_ID_MAX_BYTES`
 * UTF-8 bytes (so the profile object stays under Klaviyo's 95 KB).
 */
export function normalizeExternalId(v: SourceValue): string | null | false {
  const t = idText(v);
  if (typeof t !== 'string') return t;
  if (t.length * 3 > EXTERNAL_ID_MAX_BYTES && Buffer.byteLength(t) > EXTERNAL_ID_MAX_BYTES) return false;
  return t;
}

const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/**
 * A Klaviyo profile id: the 26-character ULID Klaviyo generates (Crockford base32, e.g.
 * `01GDDKASAP8TKDDA2GRZDSVP4H`); lower case is accepted and sent upper case.
 */
export function normalizeProfileId(v: SourceValue): string | null | false {
  const t = idText(v);
  if (typeof t !== 'string') return t;
  const u = t.toUpperCase();
  return ULID.test(u) ? u : false;
}

/**
 * Exact numbers (DESIGN.md rules 5 and 6, pitfall 8). A decimal is sent as a JSON number only when the
 * number's own JSON text is the same decimal value: `12.50` -> `12.5` is exact, `0.1` -> `0.1` is exact
 * (every JSON reader turns the text `0.1` back into the same double), `9007199254740993` -> the double
 * `9007199254740992` is not, and neither is `0.30000000000000000001`. Pure code.
 */
import { parse as losslessParse } from 'lossless-json';

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Canonical form of a decimal text, equal for equal values: `"-1234e-2"`, `"-12.340"` and `"-12.34"` all
 * give `-1234e-2`; zero gives `0`. Returns null when `text` is not a plain decimal (no spaces, no `_`,
 * no thousands separators, no hex, no `Infinity`).
 */
export function canonicalDecimal(text: string): string | null {
  if (!DECIMAL.test(text)) return null;
  let i = 0;
  let sign = '';
  const c0 = text.charCodeAt(0);
  if (c0 === 43 /* + */ || c0 === 45 /* - */) {
    if (c0 === 45) sign = '-';
    i = 1;
  }
  let end = text.length;
  let exp = 0;
  const e = text.search(/[eE]/);
  if (e >= 0) {
    exp = Number(text.slice(e + 1));
    end = e;
  }
  let digits = '';
  let fracLen = 0;
  let inFrac = false;
  for (let k = i; k < end; k++) {
    const ch = text[k];
    if (ch === '.') inFrac = true;
    else {
      digits += ch;
      if (inFrac) fracLen++;
    }
  }
  exp -= fracLen;
  // strip leading zeros
  let s = 0;
  while (s < digits.length - 1 && digits.charCodeAt(s) === 48) s++;
  digits = digits.slice(s);
  if (/^0*$/.test(digits)) return '0';
  // strip trailing zeros into the exponent
  let t = digits.length;
  while (t > 1 && digits.charCodeAt(t - 1) === 48) t--;
  exp += digits.length - t;
  digits = digits.slice(0, t);
  return `${sign}${digits}e${exp}`;
}

/**
 * The JSON number for a decimal text when it is exact (see the module comment), else `undefined`.
 * Also `undefined` for text that is not a plain decimal or overflows to Infinity.
 * Fast path: up to 15 significant digits always round-trip through a double.
 */
export function exactNumber(text: string): number | undefined {
  const n = Number(text);
  if (!Number.isFinite(n)) return undefined;
  if (text.length <= 16 && /^-?\d{1,15}(?:\.\d*)?$/.test(text) && significantDigits(text) <= 15) {
    return n === 0 ? 0 : n;
  }
  const want = canonicalDecimal(text);
  if (want === null) return undefined;
  if (canonicalDecimal(String(n)) !== want) return undefined;
  return n === 0 ? 0 : n;
}

function significantDigits(text: string): number {
  let count = 0;
  let leading = true;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c < 48 || c > 57) continue;
    if (leading && c === 48) continue;
    leading = false;
    count++;
  }
  return count;
}

/**
 * A number value as a property: finite safe numbers stay numbers (`-0` becomes `0`); integral numbers
 * beyond 2^53 - 1 become their exact decimal text; NaN and infinities become the strings `NaN`,
 * `Infinity`, `-Infinity` (JSON has no such numbers; a NULL-like drop would hide them).
 */
export function numberProperty(n: number): number | string {
  if (Number.isFinite(n)) {
    if (Number.isInteger(n) && !Number.isSafeInteger(n)) return String(n);
    return n === 0 ? 0 : n;
  }
  return String(n);
}

/** JSON text in which `JSON.parse` may change a number: 16+ digits (and dots) in a row, or an exponent. */
const RISKY_NUMBER = /\d[\d.]{15}|\d[eE][+-]?\d/;

/**
 * Parses JSON text into JSON values without changing any number: a number token whose value a double
 * cannot carry exactly (integers past 2^53, more than ~15 significant digits, exponents out of range)
 * becomes its exact text as a string; every other number stays a number.
 * @throws SyntaxError when `text` is not JSON.
 */
export function parseJsonExact(text: string): unknown {
  if (!RISKY_NUMBER.test(text)) return JSON.parse(text);
  return losslessParse(text, null, LOSSLESS_OPTIONS);
}

const LOSSLESS_OPTIONS = {
  parseNumber(token: string): unknown {
    const n = exactNumber(token);
    if (n === undefined) return token;
    if (Number.isInteger(n) && !Number.isSafeInteger(n)) return token;
    return n;
  },
  // As JSON.parse: the last of repeated keys wins.
  onDuplicateKey: ({ newValue }: { newValue: unknown }) => newValue,
};

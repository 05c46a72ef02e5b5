/** "Did you mean" suggestions by edit distance (fastest-levenshtein). */
import { distance } from 'fastest-levenshtein';

/** `Event_Timestamp`, `eventTimestamp`, `event-timestamp` -> `eventtimestamp`: spelling-neutral form. */
function fold(s: string): string {
  return s.toLowerCase().replace(/[-_\s]/g, '');
}

/**
 * The candidate closest to `input`, or undefined when none is close enough to be a plausible typo:
 * same name in another case or separator style, or within 1 edit (words under four letters) or
 * max(2, length / 3) edits, or `maxEdits` when given (ties: the first candidate).
 */
export function closest(input: string, candidates: readonly string[], maxEdits?: number): string | undefined {
  if (input.length > 200) return undefined; // not a typo, and distance would be quadratic
  const f = fold(input);
  const same = candidates.find((c) => fold(c) === f);
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(f, fold(c));
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  // Levenshtein counts a swap of two letters as 2 edits: allow 2 from four letters on.
  const limit = maxEdits ?? (f.length < 4 ? 1 : Math.max(2, Math.floor(f.length / 3)));
  return bestD <= limit ? best : undefined;
}

/** ` (did you mean "x"?)` or an empty string. */
export function didYouMean(input: string, candidates: readonly string[]): string {
  const c = closest(input, candidates);
  return c === undefined ? '' : `; did you mean "${c}"?`;
}

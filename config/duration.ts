/** Durations written in config files: `<integer><unit>` with unit s, m, h or d. */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses `90s`, `5m`, `2h`, `1d` into seconds.
 * @throws Error when the text is not of that form.
 */
export function durationSeconds(text: string): number {
  const m = /^([0-9]+)(s|m|h|d)$/.exec(text);
  if (!m) throw new Error(`invalid duration "${text}": expected a number followed by s, m, h or d`);
  return Number(m[1]) * UNIT_SECONDS[m[2]];
}

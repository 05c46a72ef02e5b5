/**
 * Schedule and zone checks: a cron expression is accepted exactly when Temporal Schedules accept it as
 * a five-field `cronExpressions` entry (grammar of the Temporal server's cron parser: `*`, values,
 * `a-b`, `a-b/s`, `a/s`, `* /s`, lists, month names from three letters and weekday names from two,
 * weekday 0-7; no `?`, `L`, `W` or `#`), and croner (with Temporal's AND of day-of-month and
 * day-of-week) then computes the next runs, so a schedule that can never fire is caught too.
 */
import { Cron } from 'croner';
import { IANAZone } from 'luxon';
import { closest } from './suggest.ts';

/** Outcome of checking a cron expression. `offset`/`token` locate the offending part in the text. */
export type CronCheck =
  | { ok: true; /** The five numeric fields passed to croner. */ fields: string; next: Date[]; /** Set when day-of-month and day-of-week are both restricted. */ andNote?: string }
  | { ok: false; message: string; offset?: number; token?: string };

/** Shorthands Temporal expands (server `handlePredefinedCronStrings`). */
const SHORTHANDS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: { list: string[]; minLen: number; base: number };
}

const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: { list: MONTHS, minLen: 3, base: 1 } },
  { name: 'day-of-week', min: 0, max: 7, names: { list: DAYS, minLen: 2, base: 0 } },
];

class FieldError extends Error {
  constructor(
    message: string,
    readonly at: number,
    readonly token: string,
  ) {
    super(message);
  }
}

/** Parses one value (number or name) of a field; `at` is its offset in the expression. */
function parseValue(s: string, spec: FieldSpec, min: number, at: number): number {
  if (spec.names && s.length >= spec.names.minLen && /^[a-z]+$/i.test(s)) {
    const i = spec.names.list.findIndex((n) => n.startsWith(s.toLowerCase()));
    if (i >= 0) return i + spec.names.base;
  }
  if (!/^[0-9]+$/.test(s)) {
    const names = spec.names ? ` or a ${spec.name === 'month' ? 'month name (JAN, February, ...)' : 'weekday name (MON, Tue, ...)'}` : '';
    let hint = '';
    if (s === '?') hint = ' ("?" is not supported by Temporal: use "*")';
    else if (/^L$|L$|W$/i.test(s)) hint = ' ("L" and "W" are not supported by Temporal)';
    throw new FieldError(`"${s}" in the ${spec.name} field is not a number${names}${hint}`, at, s);
  }
  const v = Number(s);
  if (v < min || v > spec.max) {
    throw new FieldError(
      min > spec.min ? `range end ${v} in the ${spec.name} field must be between ${min} and ${spec.max}` : `${v} is out of range for the ${spec.name} field (${spec.min}-${spec.max})`,
      at,
      s,
    );
  }
  return v;
}

/** Checks one field as Temporal's `makeRange` does and returns it with names replaced by numbers. */
function normaliseField(text: string, spec: FieldSpec, at: number): string {
  const out: string[] = [];
  let off = at;
  for (const part of text.split(',')) {
    if (part === '') throw new FieldError(`empty list item in the ${spec.name} field`, off, text);
    if (part.includes('#')) throw new FieldError(`"#" is not supported by Temporal (no nth-weekday); use a YAML comment outside the quotes for notes`, off + part.indexOf('#'), '#');
    const slash = part.split('/');
    if (slash.length > 2) throw new FieldError(`"${part}" in the ${spec.name} field has more than one "/"`, off, part);
    const [range, stepText] = slash;
    let step = '';
    if (stepText !== undefined) {
      if (!/^[0-9]+$/.test(stepText) || Number(stepText) < 1) {
        throw new FieldError(`step "${stepText}" in the ${spec.name} field must be a whole number of at least 1`, off + range.length + 1, stepText);
      }
      step = `/${Number(stepText)}`;
    }
    if (range === '*') out.push(`*${step}`);
    else if (range.includes('-')) {
      const bounds = range.split('-');
      if (bounds.length !== 2 || bounds[0] === '' || bounds[1] === '') throw new FieldError(`"${range}" in the ${spec.name} field is not a range like 1-5`, off, range);
      const a = parseValue(bounds[0], spec, spec.min, off);
      const b = parseValue(bounds[1], spec, a, off + bounds[0].length + 1);
      out.push(`${a}-${b}${step}`);
    } else {
      const a = parseValue(range, spec, spec.min, off);
      // Temporal reads `a/s` as a-max/s.
      out.push(step ? `${a}-${spec.max}${step}` : `${a}`);
    }
    off += part.length + 1;
  }
  return out.join(',');
}

/**
 * Checks a cron expression as a Temporal Schedule reads it (five fields, or @hourly/@daily/@weekly/
 * @monthly/@yearly) and computes its next three runs in `timezone` (an IANA name; checked separately).
 * The next runs are informational: they equal Temporal's except around a daylight-saving change, where
 * Temporal skips a wall-clock time that does not exist and croner moves it forward (tested against
 * the real server in test/config-cron-temporal.test.ts).
 */
export function checkCron(expr: string, timezone: string, from: Date = new Date()): CronCheck {
  const trimmed = expr.trim();
  const lead = expr.length - expr.trimStart().length;
  if (trimmed === '') return { ok: false, message: 'the cron expression is empty' };
  if (/^(CRON_)?TZ=/i.test(trimmed)) {
    return { ok: false, message: 'a zone inside the cron expression is not supported: set schedule.timezone instead', offset: lead, token: trimmed.split(/\s/)[0] };
  }
  if (/^@every\b/i.test(trimmed)) return { ok: false, message: '"@every" is not supported in cron: use schedule.interval (e.g. interval: 15m) instead', offset: lead, token: '@every' };
  let body = trimmed;
  let bodyOffset = lead;
  if (trimmed.startsWith('@')) {
    const s = SHORTHANDS[trimmed.toLowerCase()];
    if (!s) {
      const near = closest(trimmed.toLowerCase(), Object.keys(SHORTHANDS));
      return { ok: false, message: `unknown shorthand "${trimmed}": use @hourly, @daily, @weekly, @monthly or @yearly${near ? `; did you mean "${near}"?` : ''}`, offset: lead, token: trimmed };
    }
    body = s;
    bodyOffset = -1; // positions inside the expansion mean nothing in the file
  }
  const parts: { text: string; at: number }[] = [];
  const re = /\S+/g;
  for (let m = re.exec(body); m; m = re.exec(body)) parts.push({ text: m[0], at: m.index + bodyOffset });
  if (parts.length !== 5) {
    const extra = parts.length === 6 || parts.length === 7 ? ' (seconds and year fields are not supported here)' : '';
    return {
      ok: false,
      message: `a cron expression has 5 fields (minute hour day-of-month month day-of-week); this one has ${parts.length}${extra}`,
      offset: lead,
      token: trimmed,
    };
  }
  let fields: string;
  try {
    fields = parts.map((p, i) => normaliseField(p.text, FIELDS[i], p.at)).join(' ');
  } catch (e) {
    if (e instanceof FieldError) return { ok: false, message: e.message, offset: bodyOffset < 0 ? undefined : e.at, token: e.token };
    throw e;
  }
  let next: Date[];
  try {
    const job = new Cron(fields, { timezone, domAndDow: true, sloppyRanges: true, mode: '5-part', paused: true });
    next = job.nextRuns(3, from);
    job.stop();
  } catch (e) {
    return { ok: false, message: `not a valid cron expression: ${(e as Error).message.replace(/^CronPattern: /, '')}` };
  }
  if (next.length === 0) return { ok: false, message: `the cron expression "${trimmed}" never fires (no such date)` };
  const [, , dom, , dow] = fields.split(' ');
  const andNote = dom !== '*' && dow !== '*'
    ? 'both day-of-month and day-of-week are restricted: Temporal runs only on days matching both (classic cron runs on days matching either)'
    : undefined;
  return andNote ? { ok: true, fields, next, andNote } : { ok: true, fields, next };
}

/** A fixed interval `<n>(s|m|h|d)` in seconds, or a message when it is not usable as a schedule interval. */
export function checkInterval(text: string): { ok: true; seconds: number } | { ok: false; message: string } {
  const m = /^([0-9]+)(s|m|h|d)$/.exec(text);
  if (!m) return { ok: false, message: `"${text}" is not an interval: a whole number followed by s, m, h or d, e.g. 15m` };
  const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  if (seconds < 1) return { ok: false, message: 'the interval must be at least 1s' };
  if (seconds > 366 * 86400) return { ok: false, message: 'the interval must be at most 366d' };
  return { ok: true, seconds };
}

let zoneNames: string[] | undefined;
function knownZones(): string[] {
  zoneNames ??= [...new Set(['UTC', ...Intl.supportedValuesOf('timeZone')])];
  return zoneNames;
}

/**
 * Checks an IANA time zone name as Temporal (Go's `time.LoadLocation`: case-sensitive) and Luxon
 * (the mapper) both read it.
 * @returns undefined when valid, else the message.
 */
export function checkTimeZone(zone: string): string | undefined {
  const zones = knownZones();
  if (zones.includes(zone)) return undefined;
  const ci = zones.find((z) => z.toLowerCase() === zone.toLowerCase());
  if (ci) return `time zone "${zone}" must be written "${ci}" (zone names are case-sensitive)`;
  if (IANAZone.isValidZone(zone) && /^[A-Za-z][A-Za-z0-9_+\-]*(\/[A-Za-z0-9_+\-]+)*$/.test(zone)) return undefined; // an alias such as US/Pacific
  if (/^(UTC|GMT)?\s*[+-]\d/i.test(zone)) {
    return `time zone "${zone}" is a fixed offset, not an IANA zone name: use a place such as "Europe/Berlin", or "Etc/GMT-1" for UTC+1 (the sign is inverted)`;
  }
  const near = closest(zone, zones);
  return `"${zone}" is not an IANA time zone name${near ? `; did you mean "${near}"?` : ' (e.g. UTC, Europe/London, America/New_York)'}`;
}

/**
 * `checkCron` against the real Temporal server: every expression the validator accepts, a Temporal
 * Schedule accepts too, with the same next run times; every expression the validator rejects, the
 * server rejects too, or the case is one where the validator is stricter on purpose (listed, with why).
 * Schedules are created paused (nothing runs) and deleted afterwards.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { checkCron } from '../config/schedule.ts';

let connection: Connection;
let client: Client;
const prefix = `cron-check-${randomBytes(3).toString('hex')}`;
let n = 0;

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection, namespace: 'default' });
});
afterAll(async () => {
  await connection?.close();
});

/** Creates a paused schedule from the expression; returns its next action times, or the server's error. */
async function temporalReads(expr: string, timezone: string, startAt: Date): Promise<{ ok: true; next: string[] } | { ok: false; error: string }> {
  const scheduleId = `${prefix}-${n++}`;
  try {
    const h = await client.schedule.create({
      scheduleId,
      spec: { cronExpressions: [expr], timezone, startAt },
      action: { type: 'startWorkflow', workflowType: 'neverRuns', taskQueue: `${prefix}-nobody`, args: [] },
      state: { paused: true },
    });
    const d = await h.describe();
    await h.delete();
    return { ok: true, next: d.info.nextActionTimes.map((t) => t.toISOString()) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

// A window without a daylight-saving change in any zone used here (Temporal and croner treat the
// skipped and repeated hours differently; the validator's next runs are informational there).
const START = new Date('2027-01-10T00:00:00Z');

const ACCEPTED: [string, string][] = [
  ['0 * * * *', 'UTC'],
  ['*/15 * * * *', 'UTC'],
  ['0 8-20 * * MON-FRI', 'Europe/London'],
  ['30 6 * * mo', 'America/New_York'],
  ['0 9 * * tues', 'Asia/Kolkata'],
  ['5/20 * * * *', 'UTC'],
  ['0 0 * * 7', 'UTC'],
  ['0 0 * * 0-7', 'Australia/Sydney'],
  ['0 12 1 * MON', 'UTC'],
  ['0 0 1,15 * *', 'Europe/Berlin'],
  ['0 0 1 janu *', 'UTC'],
  ['0 0 1 FEB-APR/2 *', 'UTC'],
  ['10-40/10 3 * * *', 'UTC'],
  ['@hourly', 'UTC'],
  ['@daily', 'Europe/London'],
  ['@weekly', 'UTC'],
];

describe('expressions the validator accepts', () => {
  for (const [expr, tz] of ACCEPTED) {
    it(`${expr} (${tz}): Temporal accepts it and fires at the same times`, async () => {
      const ours = checkCron(expr, tz, new Date(START.getTime() - 1));
      expect(ours.ok).toBe(true);
      const theirs = await temporalReads(expr, tz, START);
      expect(theirs.ok, JSON.stringify(theirs)).toBe(true);
      if (!ours.ok || !theirs.ok) return;
      expect(theirs.next.slice(0, 3)).toEqual(ours.next.map((d) => d.toISOString()));
    });
  }
});

/** Rejected by the validator; `temporal` says what the server does with it and, when it accepts, why we do not. */
const REJECTED: { expr: string; message: string; temporal: 'rejects' | string; tz?: string }[] = [
  { expr: '0 24 * * *', message: '24 is out of range for the hour field (0-23)', temporal: 'rejects' },
  { expr: '0 0 ? * *', message: '"?" in the day-of-month field is not a number ("?" is not supported by Temporal: use "*")', temporal: 'rejects' },
  { expr: '0 0 L * *', message: '"L" in the day-of-month field is not a number ("L" and "W" are not supported by Temporal)', temporal: 'rejects' },
  { expr: '*/0 * * * *', message: 'step "0" in the minute field must be a whole number of at least 1', temporal: 'rejects' },
  { expr: '5-1 * * * *', message: 'range end 1 in the minute field must be between 5 and 59', temporal: 'rejects' },
  { expr: '0 0 1 ja *', message: '"ja" in the month field is not a number or a month name (JAN, February, ...)', temporal: 'rejects' },
  { expr: '0 0 1, * *', message: 'empty list item in the day-of-month field', temporal: 'rejects' },
  { expr: '@fortnightly', message: 'unknown shorthand "@fortnightly": use @hourly, @daily, @weekly, @monthly or @yearly', temporal: 'rejects' },
  { expr: '0 0 * *', message: 'a cron expression has 5 fields (minute hour day-of-month month day-of-week); this one has 4', temporal: 'rejects' },
  // Stricter on purpose:
  {
    expr: '0 0 * * 1#2',
    message: '"#" is not supported by Temporal (no nth-weekday); use a YAML comment outside the quotes for notes',
    temporal: 'reads "#2" as a comment and runs every Monday: not the second Monday the author meant',
  },
  {
    expr: '0 0 * * * *',
    message: 'a cron expression has 5 fields (minute hour day-of-month month day-of-week); this one has 6 (seconds and year fields are not supported here)',
    temporal: 'reads a sixth field as the year; a five-field schedule is what every cron user expects',
  },
  { expr: '@every 15m', message: '"@every" is not supported in cron: use schedule.interval (e.g. interval: 15m) instead', temporal: 'accepts it; schedule.interval says the same plainly' },
  {
    expr: 'TZ=Europe/London 0 9 * * *',
    message: 'a zone inside the cron expression is not supported: set schedule.timezone instead',
    temporal: 'accepts it when the spec names the same zone (and refuses it otherwise); one place for the zone is clearer',
    tz: 'Europe/London',
  },
  { expr: '0 0 30 2 *', message: 'the cron expression "0 0 30 2 *" never fires (no such date)', temporal: 'accepts a schedule that never runs' },
];

describe('expressions the validator rejects', () => {
  for (const r of REJECTED) {
    it(`${r.expr}: ${r.temporal === 'rejects' ? 'Temporal rejects it too' : `stricter than Temporal, which ${r.temporal}`}`, async () => {
      const ours = checkCron(r.expr, 'UTC', START);
      expect(ours.ok).toBe(false);
      if (!ours.ok) expect(ours.message).toBe(r.message);
      const theirs = await temporalReads(r.expr, r.tz ?? 'UTC', START);
      expect(theirs.ok, JSON.stringify(theirs)).toBe(r.temporal !== 'rejects');
    });
  }
});

it('day-of-month and day-of-week both restricted: both must match (Temporal), with a note', () => {
  const c = checkCron('0 12 1 * MON', 'UTC', START);
  expect(c.ok && c.next.map((d) => d.toISOString())).toEqual(['2027-02-01T12:00:00.000Z', '2027-03-01T12:00:00.000Z', '2027-11-01T12:00:00.000Z']);
  expect(c.ok && c.andNote).toBe('both day-of-month and day-of-week are restricted: Temporal runs only on days matching both (classic cron runs on days matching either)');
});

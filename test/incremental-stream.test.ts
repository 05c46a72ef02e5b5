/**
 * A page streamed in chunks (`WarehouseReader.streamPage` + `loadPage`), on a real DuckDB file, a real
 * SQLite state store and a real HTTP server: pages far larger than a chunk, with rows the mapping
 * rejects, rows Klaviyo refuses, repeats and same-id events of other identifiers spread across chunks,
 * account for every row exactly as a page read at once would, and commit only at the page's end.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSyncActivities } from '../activities/sync.ts';
import { StateStore } from '../activities/state/store.ts';
import type { PageInput, PageResult } from '../activities/types.ts';
import { openDuckDBReader } from '../activities/warehouse/duckdb.ts';
import { duckdbExec, tempDir } from './helpers/duckdb.ts';
import { syncFromYaml } from './helpers/incremental.ts';
import { TEST_API_KEY } from './helpers/stack.ts';

const dir = tempDir();
const db = join(dir, 'warehouse.duckdb');
const ROWS = 2_600;
const CHUNK = 64;

// The rows, as the table below defines them (the expectations are computed from the same rules).
const emailOf = (seq: number): string | null => (seq % 97 === 5 ? null : seq % 700 === 650 ? `x${seq}@shop.org` : `c${seq % 50}@shop.org`);
/** Every 500th row repeats the event 400 rows earlier (same email, same uid); every 700th row reuses the uid of the row 300 earlier under another email. */
const uidOf = (seq: number): string => (seq % 500 === 499 ? `u-${seq - 400}` : seq % 700 === 650 ? `u-${seq - 300}` : `u-${seq}`);
/** The server refuses these events (as Klaviyo refuses an event for a reason the sender cannot check). */
const refused = (uid: string): boolean => Number(uid.slice(2)) % 211 === 17;

let server: Server;
let url: string;
/** What the server accepted, and the (metric, unique_id) keys of each request it answered. */
const accepted: { uid: string; email: string }[] = [];
const requests: string[][] = [];
let state: StateStore;

beforeAll(async () => {
  await duckdbExec(
    db,
    `CREATE TABLE lines AS SELECT
       i AS seq,
       CASE WHEN i % 500 = 499 THEN 'u-' || (i - 400) WHEN i % 700 = 650 THEN 'u-' || (i - 300) ELSE 'u-' || i END AS uid,
       CASE WHEN i % 97 = 5 THEN NULL WHEN i % 700 = 650 THEN 'x' || i || '@shop.org' ELSE 'c' || (i % 50) || '@shop.org' END AS email,
       TIMESTAMP '2025-01-01 00:00:00' + INTERVAL (i) SECOND AS placed_at,
       -- one change timestamp for all but the last 100 rows (a table loaded in one transaction), then one per row
       CASE WHEN i < ${ROWS - 100} THEN TIMESTAMP '2025-02-01 00:00:00' ELSE TIMESTAMP '2025-02-01 00:00:00' + INTERVAL (i) SECOND END AS chg,
       'note ' || i AS note
     FROM range(${ROWS}) r(i)`,
  );
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const errors: unknown[] = [];
      const ok: { uid: string; email: string }[] = [];
      const keys: string[] = [];
      body.data.attributes['events-bulk-create'].data.forEach((g: { attributes: { profile: { data: { attributes: { email: string } } }; events: { data: { attributes: { unique_id: string; metric: { data: { attributes: { name: string } } } } }[] } } }, gi: number) => {
        g.attributes.events.data.forEach((e, ei) => {
          keys.push(`${e.attributes.metric.data.attributes.name}|${e.attributes.unique_id}`);
          if (refused(e.attributes.unique_id)) {
            errors.push({
              id: `t-${gi}-${ei}`,
              status: 400,
              code: 'invalid',
              title: 'Invalid input.',
              detail: 'This event was refused (test)',
              source: { pointer: `/data/attributes/events-bulk-create/data/${gi}/attributes/events/data/${ei}/attributes/unique_id` },
            });
          } else ok.push({ uid: e.attributes.unique_id, email: g.attributes.profile.data.attributes.email });
        });
      });
      requests.push(keys);
      if (errors.length) {
        res.writeHead(400, { 'content-type': 'application/vnd.api+json' });
        res.end(JSON.stringify({ errors }));
        return;
      }
      accepted.push(...ok);
      res.writeHead(202);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state = new StateStore(join(dir, 'state.sqlite'));
});

afterAll(async () => {
  state?.close();
  await new Promise((r) => server?.close(r));
});

const sync = syncFromYaml(`
name: streamed
source:
  table: lines
  tie_breaker: seq
metric:
  name: Placed Order
mapping:
  event_timestamp: placed_at
  change_timestamp: chg
  unique_id: uid
  profile:
    email: email
options:
  page_size: 2000
  settle_delay: 1s
`);

function page(over: Partial<PageInput> = {}): PageInput {
  return { sync, stateKey: 'streamed', runId: 'run-S', phase: 'main', after: null, until: '2025-03-01T00:00:00.000000', watermark: null, backfill: false, keyOrder: 'numeric', ...over };
}

describe('a page streamed in chunks', () => {
  it('streamPage yields the rows of readPage, in order, in chunks of at most chunkRows', async () => {
    const reader = await openDuckDBReader(db);
    try {
      const columns = await reader.describe('lines');
      const req = { table: 'lines', columns, change: columns[4], tieBreaker: columns[0], after: null, until: '2025-03-01T00:00:00.000000', limit: 2_000 };
      const whole = await reader.readPage(req);
      const stream = await reader.streamPage(req, { chunkRows: CHUNK });
      const chunks: unknown[][][] = [];
      for await (const c of stream) chunks.push(c);
      expect(stream.more).toBe(true);
      expect(whole.more).toBe(true);
      expect(chunks.every((c) => c.length > 0 && c.length <= CHUNK)).toBe(true);
      expect(chunks.flat()).toEqual(whole.rows);
      expect(whole.rows).toHaveLength(2_000);
      expect(whole.rows.at(-1)![0]).toBe(1_999);
      // The next page, from the last cursor: the rest of the one-timestamp group, then the later rows.
      const rest = await reader.streamPage({ ...req, after: { ts: '2025-02-01T00:00:00.000000', key: '1999' } }, { chunkRows: 1_000 });
      const restRows: unknown[][] = [];
      for await (const c of rest) restRows.push(...c);
      expect(rest.more).toBe(false);
      expect(restRows.map((r) => r[0])).toEqual(Array.from({ length: ROWS - 2_000 }, (_, k) => 2_000 + k));
    } finally {
      await reader.close();
    }
  });

  it('loads pages far larger than a chunk with every row accounted for, rejects recorded with their rows, committed at each page end', async () => {
    const acts = createSyncActivities({ connection: { type: 'duckdb', path: db }, state, klaviyo: { apiKey: TEST_API_KEY, baseUrl: url }, rateLimits: null, chunkRows: CHUNK });
    const env = () => new MockActivityEnvironment({ startToCloseTimeoutMs: 120_000, heartbeatTimeoutMs: 60_000 });

    const first: PageResult = await env().run(acts.loadPage, page());
    expect(first.rowsRead).toBe(2_000);
    expect(first.done).toBe(false);
    expect(first.watermark).toEqual({ ts: '2025-02-01T00:00:00.000000', key: '1999' });
    const second: PageResult = await env().run(acts.loadPage, page({ after: first.last, watermark: first.watermark }));
    expect(second.rowsRead).toBe(ROWS - 2_000);
    expect(second.done).toBe(true);
    expect(second.watermark).toEqual({ ts: `2025-02-01T00:43:19.000000`, key: String(ROWS - 1) });
    expect(state.getWatermark('streamed')?.cursor).toEqual(second.watermark);

    // What a page read at once would account: the same rules applied row by row, in page order.
    const expected = { accepted: [] as { uid: string; email: string }[], duplicates: 0, missing: [] as number[], apiRejected: [] as number[] };
    for (const [from, to] of [
      [0, 2_000],
      [2_000, ROWS],
    ]) {
      const seen = new Set<string>();
      for (let seq = from; seq < to; seq++) {
        const email = emailOf(seq);
        const uid = uidOf(seq);
        if (email === null) expected.missing.push(seq);
        else if (seen.has(`${email}|${uid}`)) expected.duplicates++;
        else {
          seen.add(`${email}|${uid}`);
          if (refused(uid)) expected.apiRejected.push(seq);
          else expected.accepted.push({ uid, email });
        }
      }
    }
    // The rules above do spread each case over many chunks.
    expect(expected.missing.length).toBeGreaterThan(20);
    expect(expected.apiRejected.length).toBeGreaterThan(10);
    expect(expected.duplicates).toBe(5);

    expect(first.eventsAccepted + second.eventsAccepted).toBe(expected.accepted.length);
    expect(first.duplicates + second.duplicates).toBe(expected.duplicates);
    expect({ missing_identifier: (first.rejected.missing_identifier ?? 0) + (second.rejected.missing_identifier ?? 0), api_rejected: (first.rejected.api_rejected ?? 0) + (second.rejected.api_rejected ?? 0) }).toEqual({
      missing_identifier: expected.missing.length,
      api_rejected: expected.apiRejected.length,
    });
    const key = (a: { uid: string; email: string }) => `${a.email}|${a.uid}`;
    expect(accepted.map(key).sort()).toEqual(expected.accepted.map(key).sort());

    // Requests: whole (1,000 events) until each page's last one, never one (metric, unique_id) twice.
    for (const keys of requests) {
      expect(keys.length).toBeLessThanOrEqual(1_000);
      expect(new Set(keys).size).toBe(keys.length);
    }
    // u-350 (row 350) and u-350 under x650@shop.org (row 650) were both loaded, in different requests.
    expect(accepted.filter((a) => a.uid === 'u-350').map((a) => a.email).sort()).toEqual(['c0@shop.org', 'x650@shop.org']);

    // Every reject is recorded with its row values, whichever chunk it came from.
    const rejects = state.listRejects('streamed', { limit: 10_000 });
    const apiRejects = rejects.filter((r) => r.reason === 'api_rejected');
    expect(apiRejects.map((r) => r.row!.seq).sort((a, b) => Number(a) - Number(b))).toEqual(expected.apiRejected);
    for (const r of apiRejects) {
      expect(r.detail).toBe('unique_id: This event was refused (test)');
      expect(r.rowKey).toBe(uidOf(Number(r.row!.seq)));
      expect(r.row).toMatchObject({ uid: r.rowKey, note: `note ${r.row!.seq}`, email: emailOf(Number(r.row!.seq)) });
    }
    const missing = rejects.filter((r) => r.reason === 'missing_identifier');
    expect(missing.map((r) => r.row!.seq).sort((a, b) => Number(a) - Number(b))).toEqual(expected.missing);
    expect(missing.every((r) => r.row!.email === null && r.runId === 'run-S')).toBe(true);
  });
});

/**
 * The demo's embedded warehouse: a DuckDB file with one deterministic table per example sync in
 * `syncs/`, including the messy rows real exports have (no identifier, a bad email next to a good id,
 * a bad phone, an empty metric name), so the demo shows loads and rejects. About 2,800 rows in all.
 *
 * Seeding creates each missing table, so an existing `.data/warehouse.duckdb` gains tables added to
 * the demo later; tables that exist are never touched.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** Table the first demo sync (`syncs/shop-orders.yaml`) reads. */
export const DEMO_TABLE = 'shop.order_events';

/** One demo table: its `schema.table` name, the sync that reads it, and the statement that fills it. */
interface DemoTable {
  schema: string;
  table: string;
  sync: string;
  rows: number;
  select: (rows: number) => string;
}

// All times lie in October 2026 (zone-less TIMESTAMP columns are wall-clock times, read in each sync's
// options.timestamp_zone); change timestamps trail the event times by seconds to minutes.
const TABLES: DemoTable[] = [
  {
    schema: 'shop',
    table: 'order_events',
    sync: 'shop-orders',
    rows: 1000,
    // Rows i = 1..n: one order each. Every 97th row has no identifier at all, every 89th an invalid
    // email and nothing else, every 53rd an invalid phone next to a valid email (loaded with a warning).
    select: (n) => `
      SELECT
        'ord-' || lpad(i::VARCHAR, 6, '0')                                          AS order_id,
        CASE WHEN i % 97 = 0 THEN NULL WHEN i % 89 = 0 THEN 'not-an-email'
             ELSE 'customer' || (i % 250) || '@shop.example.org' END                  AS email,
        CASE WHEN i % 97 = 0 OR i % 89 = 0 THEN NULL ELSE 100000 + (i % 250) END       AS customer_id,
        CASE WHEN i % 53 = 0 THEN '555-0100 ext. 2' WHEN i % 3 = 0 THEN '+44 20 7946 ' || lpad((i % 1000)::VARCHAR, 4, '0') ELSE NULL END AS phone,
        TIMESTAMP '2026-10-01 00:00:00' + to_minutes(i * 7)                           AS ordered_at,
        TIMESTAMP '2026-10-01 00:00:00' + to_minutes(i * 7) + to_seconds(30)           AS updated_at,
        round(5 + (i * 37 % 20000) / 100.0, 2)::DECIMAL(12, 2)                        AS total,
        CASE WHEN i % 5 = 0 THEN 'EUR' ELSE 'GBP' END                                  AS currency,
        ['Mug', 'Poster', 'Notebook', 'Pen', 'Tote bag'][1 + i % 5]                    AS product,
        1 + i % 4                                                                      AS quantity,
        CASE WHEN i % 10 = 0 THEN 'WELCOME10' ELSE NULL END                            AS coupon,
        ['London', 'Leeds', 'Bristol', 'Paris', 'Berlin'][1 + i % 5]                   AS shipping___city,
        ['GB', 'GB', 'GB', 'FR', 'DE'][1 + i % 5]                                      AS shipping___country
      FROM range(1, ${n + 1}) t(i)`,
  },
  {
    schema: 'app',
    table: 'events',
    sync: 'app-events',
    rows: 800,
    // Product analytics events with the metric name per row (every 71st is empty: rejected with
    // missing_metric), TIMESTAMPTZ columns, and properties nested two and three levels deep.
    select: (n) => `
      SELECT
        'evt-' || lpad(i::VARCHAR, 7, '0')                                            AS event_id,
        CASE WHEN i % 71 = 0 THEN '' ELSE ['Viewed Product', 'Viewed Product', 'Added to Cart', 'Started Checkout'][1 + i % 4] END AS event_name,
        200000 + (i * 13 % 300)                                                        AS user_id,
        TIMESTAMPTZ '2026-10-02 08:00:00+00' + to_seconds(i * 541)                     AS occurred_at,
        TIMESTAMPTZ '2026-10-02 08:00:00+00' + to_seconds(i * 541 + 120)               AS loaded_at,
        'sku-' || (1000 + i % 40)                                                      AS product___id,
        ['Mug', 'Poster', 'Notebook', 'Pen', 'Tote bag'][1 + i % 5]                    AS product___name,
        round(4 + (i * 53 % 4000) / 100.0, 2)::DECIMAL(10, 2)                         AS product___price,
        ['ios', 'android', 'web'][1 + i % 3]                                           AS device___os,
        CASE WHEN i % 3 = 2 THEN NULL ELSE '5.' || (i % 4) || '.0' END                 AS device___app___version,
        '/products/sku-' || (1000 + i % 40)                                            AS page___url
      FROM range(1, ${n + 1}) t(i)`,
  },
  {
    schema: 'loyalty',
    table: 'point_events',
    sync: 'loyalty-points',
    rows: 400,
    // Loyalty points keyed by Klaviyo profile id, zone-less times recorded in London time.
    select: (n) => `
      SELECT
        500000 + i                                                                     AS entry_id,
        '01JB' || upper(lpad(to_hex(i * 7919 % 1048576), 6, '0')) || 'Q8RSTVWXYZ012345'   AS klaviyo_profile_id,
        TIMESTAMP '2026-10-03 09:00:00' + to_minutes(i * 19)                           AS earned_at,
        TIMESTAMP '2026-10-03 09:00:00' + to_minutes(i * 19) + to_seconds(5)            AS changed_at,
        (1 + i % 5) * 50                                                               AS points,
        ['purchase', 'review', 'referral', 'birthday'][1 + i % 4]                      AS reason,
        ['Bronze', 'Silver', 'Gold'][1 + i % 3]                                        AS tier___name,
        1 + i % 3                                                                      AS tier___level
      FROM range(1, ${n + 1}) t(i)`,
  },
  {
    schema: 'support',
    table: 'tickets',
    sync: 'support-tickets',
    rows: 300,
    // Only the required mapping: no unique id (a hash of the row is sent), no value.
    select: (n) => `
      SELECT
        'customer' || (i * 7 % 250) || '@shop.example.org'                             AS customer_email,
        TIMESTAMP '2026-10-04 07:30:00' + to_minutes(i * 37)                           AS opened_at,
        TIMESTAMP '2026-10-04 07:30:00' + to_minutes(i * 37 + 3)                       AS updated_at,
        ['Where is my order?', 'Damaged item', 'Change address', 'Refund request'][1 + i % 4] AS subject,
        ['low', 'normal', 'normal', 'high'][1 + i % 4]                                 AS priority,
        ['email', 'chat', 'phone'][1 + i % 3]                                          AS channel
      FROM range(1, ${n + 1}) t(i)`,
  },
  {
    schema: 'messaging',
    table: 'sms_replies',
    sync: 'sms-replies',
    rows: 300,
    // SMS replies identified by phone number only, in the forms real exports hold: international,
    // national (read in the sync's default region GB), with a bracketed trunk prefix; every 37th is
    // not a phone number at all (rejected: no valid identifier remains).
    select: (n) => `
      SELECT
        700000 + i                                                                     AS reply_id,
        CASE WHEN i % 37 = 0 THEN 'n/a'
             WHEN i % 3 = 0 THEN '+44 7911 123' || lpad((i % 1000)::VARCHAR, 3, '0')
             WHEN i % 3 = 1 THEN '07911 123' || lpad((i % 1000)::VARCHAR, 3, '0')
             ELSE '+44 (0)20 7946 ' || lpad((i % 10000)::VARCHAR, 4, '0') END          AS phone,
        TIMESTAMP '2026-10-05 10:00:00' + to_minutes(i * 23)                           AS received_at,
        TIMESTAMP '2026-10-05 10:00:00' + to_minutes(i * 23) + to_seconds(10)           AS updated_at,
        ['YES', 'STOP', 'INFO', 'YES'][1 + i % 4]                                      AS keyword,
        ['spring-sale', 'back-in-stock'][1 + i % 2]                                    AS campaign
      FROM range(1, ${n + 1}) t(i)`,
  },
];

async function tableExists(c: DuckDBConnection, schema: string, table: string): Promise<boolean> {
  const r = await c.runAndReadAll('SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2', [schema, table]);
  return Number(r.getRows()[0][0]) > 0;
}

/** What seeding created: one entry per table that was missing. */
export interface SeedResult {
  /** `schema.table` */
  table: string;
  /** The sync in `syncs/` that reads it. */
  sync: string;
  rows: number;
}

/**
 * Creates every missing demo table in the DuckDB file at `path` (the file too, when missing).
 * @returns the tables created (empty when all existed).
 */
export async function seedDemoWarehouse(path: string): Promise<SeedResult[]> {
  mkdirSync(dirname(path), { recursive: true });
  const db = await DuckDBInstance.create(path);
  const c = await db.connect();
  const created: SeedResult[] = [];
  try {
    await c.run("SET TimeZone = 'UTC'");
    for (const t of TABLES) {
      if (await tableExists(c, t.schema, t.table)) continue;
      await c.run(`CREATE SCHEMA IF NOT EXISTS ${t.schema}`);
      await c.run(`CREATE TABLE ${t.schema}.${t.table} AS ${t.select(t.rows)}`);
      created.push({ table: `${t.schema}.${t.table}`, sync: t.sync, rows: t.rows });
    }
  } finally {
    c.closeSync();
    db.closeSync();
  }
  return created;
}

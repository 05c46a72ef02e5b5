/**
 * The demo's embedded warehouse: a DuckDB file with a deterministic table of order events, including
 * the messy rows real exports have (no identifier, a bad email next to a good id, a bad phone), so the
 * demo shows loads and rejects.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

/** Table the demo sync reads. */
export const DEMO_TABLE = 'shop.order_events';

/**
 * Creates the demo warehouse at `path` unless it exists.
 * @returns the number of rows created, or 0 when the file was already there.
 */
export async function seedDemoWarehouse(path: string, rows = 1000): Promise<number> {
  if (existsSync(path)) return 0;
  mkdirSync(dirname(path), { recursive: true });
  const db = await DuckDBInstance.create(path);
  const c = await db.connect();
  try {
    await c.run("SET TimeZone = 'UTC'");
    await c.run('CREATE SCHEMA shop');
    // Rows i = 1..n: one order each. Every 97th row has no identifier at all, every 89th an invalid
    // email and nothing else, every 53rd an invalid phone next to a valid email (loaded with a warning).
    await c.run(`
      CREATE TABLE ${DEMO_TABLE} AS
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
      FROM range(1, ${rows + 1}) t(i)`);
  } finally {
    c.closeSync();
    db.closeSync();
  }
  return rows;
}

/**
 * `npm run bench:map`: rows/s of the row-to-event mapping for a 15-column row on one core (one thread,
 * no I/O: rows are built in memory first). Target: >= 200,000 rows/s.
 *
 * Scenarios (each maps ROWS rows REPEAT times and prints the median and best pass):
 * - `derived id`: no unique_id column, so every row is hashed (SHA-256) for its derived unique_id;
 *   identifiers drawn from 4,000 customers (the real Online Retail set has 4,372), so email and phone
 *   validation hit the per-process caches as they do on real pages;
 * - `mapped id`: the same with a unique_id column;
 * - `cold ids`: every row has an email and a phone never seen before (worst case: validator and
 *   libphonenumber run for every row).
 *
 * Two figures per scenario: rows per second of this process's CPU time (what one core delivers; the
 * target applies to it) and rows per second of wall time (lower when other processes share the cores).
 * Env: BENCH_ROWS (default 200,000), BENCH_REPEAT (default 5). Figures still depend on the machine's
 * load (shared caches, hyper-threads): the load average is printed with them.
 */
import { cpus, loadavg } from 'node:os';
import type { SourceColumn, SourceValue } from '../activities/warehouse/types.ts';
import type { SyncConfig } from '../config/types.ts';
import { compileMapper } from '../mapping/map-row.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 200_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);

const columns: SourceColumn[] = [
  { name: 'InvoiceNo', kind: 'text', sqlType: 'VARCHAR' },
  { name: 'StockCode', kind: 'text', sqlType: 'VARCHAR' },
  { name: 'Description', kind: 'text', sqlType: 'VARCHAR' },
  { name: 'Quantity', kind: 'integer', sqlType: 'INTEGER' },
  { name: 'InvoiceDate', kind: 'timestamp_ntz', sqlType: 'TIMESTAMP' },
  { name: 'LineTotal', kind: 'decimal', sqlType: 'DECIMAL(12,2)' },
  { name: 'CustomerID', kind: 'float', sqlType: 'DOUBLE' },
  { name: 'Country', kind: 'text', sqlType: 'VARCHAR' },
  { name: 'Email', kind: 'text', sqlType: 'VARCHAR' },
  { name: 'Phone', kind: 'text', sqlType: 'VARCHAR' },
  { name: 'Currency', kind: 'text', sqlType: 'VARCHAR' },
  { name: 'LoadedAt', kind: 'timestamp_ntz', sqlType: 'TIMESTAMP' },
  { name: 'Gift', kind: 'boolean', sqlType: 'BOOLEAN' },
  { name: 'ship___city', kind: 'text', sqlType: 'VARCHAR' },
  { name: 'Meta', kind: 'json', sqlType: 'JSON' },
];

function sync(uniqueId?: string): SyncConfig {
  return {
    name: 'bench-orders',
    source: { table: 'shop.order_lines' },
    metric: { name: 'Ordered Product' },
    mapping: {
      event_timestamp: 'InvoiceDate',
      change_timestamp: 'LoadedAt',
      unique_id: uniqueId,
      value: 'LineTotal',
      value_currency: 'Currency',
      profile: { email: 'Email', phone_number: 'Phone', external_id: 'CustomerID' },
    },
    schedule: { timezone: 'UTC', paused: false },
    options: { page_size: 5000, settle_delay: '5m', lookback: '0s', timestamp_zone: 'Europe/London', default_phone_region: 'GB', backfill: false },
  };
}

const DESCRIPTIONS = ['WHITE HANGING HEART T-LIGHT HOLDER', 'WHITE METAL LANTERN', "POPPY'S PLAYHOUSE BEDROOM ", 'HAND WARMER UNION JACK', 'SET 7 BABUSHKA NESTING BOXES'];
const COUNTRIES = ['United Kingdom', 'France', 'Germany', 'EIRE', 'Spain'];
const CITIES = ['London', 'Leeds', 'Paris', 'Berlin', null];
const START = Date.UTC(2010, 11, 1, 8);

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

function wall(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}.000000`;
}

function rows(n: number, customers: number): SourceValue[][] {
  const out: SourceValue[][] = new Array(n);
  for (let i = 0; i < n; i++) {
    const c = customers > 0 ? i % customers : i;
    const t = START + i * 60_000; // one line item a minute: ~139 days for 200,000 rows (both GMT and BST)
    const qty = (i % 7) - 1 || 3;
    out[i] = [
      String(536_365 + Math.floor(i / 5)),
      `${85_000 + (i % 900)}A`,
      DESCRIPTIONS[i % DESCRIPTIONS.length],
      qty,
      wall(t),
      (qty * 2.55).toFixed(2),
      12_346 + c,
      COUNTRIES[c % COUNTRIES.length],
      `customer${c}@shop-example.co.uk`,
      customers > 0 ? `020 7946 ${pad(c % 10_000, 4)}` : `+44 7700 ${900_000 + (c % 100_000)}`,
      'GBP',
      wall(t + 3_600_000),
      i % 11 === 0,
      CITIES[i % CITIES.length],
      i % 3 === 0 ? '{"channel":"web","coupon":null}' : null,
    ];
  }
  return out;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(9);

/**
 * Maps `data` REPEAT times. Two clocks per pass: CPU time of this process (user + system: what one core
 * delivers, little affected by other processes competing for the cores) and wall time.
 * @returns the median rows per CPU second
 */
function run(name: string, uniqueId: string | undefined, data: SourceValue[][]): number {
  const mapper = compileMapper(sync(uniqueId), columns);
  const cpu: number[] = [];
  const wallRates: number[] = [];
  let events = 0;
  for (let r = 0; r < REPEAT; r++) {
    events = 0;
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < data.length; i++) if (mapper.map(data[i]).ok) events++;
    const ns = Number(process.hrtime.bigint() - t0);
    const used = process.cpuUsage(c0);
    cpu.push((data.length / (used.user + used.system)) * 1e6);
    wallRates.push((data.length / ns) * 1e9);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    `${name.padEnd(11)} ${fmt(median(cpu))} rows/s of CPU time (median; best ${fmt(Math.max(...cpu)).trim()}), ${fmt(median(wallRates))} rows/s wall  (${events.toLocaleString('en-US')} events of ${data.length.toLocaleString('en-US')} rows)`,
  );
  return median(cpu);
}

console.log(`mapping benchmark: ${columns.length}-column rows, one thread, ${ROWS.toLocaleString('en-US')} rows x ${REPEAT} passes`);
console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} x ${cpus().length}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine lowers the figures)`);
const warm = rows(ROWS, 4000);
// Warm-up pass (JIT, caches) not counted.
compileMapper(sync(), columns).map(warm[0]);
const derived = run('derived id', undefined, warm);
run('mapped id', 'InvoiceNo', warm);
run('cold ids', undefined, rows(Math.min(ROWS, 50_000), 0));
console.log(`target 200,000 rows/s on one core (derived id, median CPU-time rate): ${derived >= 200_000 ? 'met' : 'NOT met'}`);

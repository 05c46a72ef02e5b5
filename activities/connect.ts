/** Opening the deployment's warehouse reader from its connection config. */
import type { ConnectionConfig } from '../config/types.ts';
import { openDuckDBReader } from './warehouse/duckdb.ts';
import type { WarehouseReader } from './warehouse/types.ts';

/**
 * Opens a reader for the connection. Secrets are read from the environment variables and key files
 * the connection names, at this moment, and never returned or logged.
 * @throws SourceError (non-retryable) when the configuration cannot work: a missing DuckDB file, an
 *   unset secret variable, an unreadable key file, credentials Snowflake refuses.
 * @throws SnowflakeUnavailableError (retryable) when Snowflake cannot be reached right now (network).
 */
export async function openReader(conn: ConnectionConfig): Promise<WarehouseReader> {
  switch (conn.type) {
    case 'duckdb':
      return openDuckDBReader(conn.path);
    case 'snowflake': {
      snowflakeModule ??= import('./warehouse/snowflake.ts');
      return (await snowflakeModule).openSnowflakeReader(conn);
    }
  }
}

/** Loaded on first use only: the driver is large and DuckDB deployments never need it. */
let snowflakeModule: Promise<typeof import('./warehouse/snowflake.ts')> | undefined;

/**
 * Closes what readers keep between activities (idle Snowflake sessions kept for reuse, see
 * warehouse/snowflake.ts). Call when the worker shuts down; readers opened later still work.
 */
export async function closeIdleReaders(): Promise<void> {
  if (snowflakeModule) await (await snowflakeModule).closeIdleSnowflakeSessions();
}

/** Snowflake reader through `snowflake-sdk` (issue 7 builds it; see ../shared/docs/snowflake.md). */
import type { SnowflakeConnectionConfig } from '../../config/types.ts';
import { SourceError, type WarehouseReader } from './types.ts';

/** @throws SourceError until the Snowflake reader exists. */
export async function openSnowflakeReader(_conn: SnowflakeConnectionConfig): Promise<WarehouseReader> {
  throw new SourceError('the Snowflake reader is not available in this version');
}

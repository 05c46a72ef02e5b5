/**
 * The shapes of the two kinds of configuration file: an event sync (one per YAML file under `syncs/`)
 * and the single warehouse connection of a deployment. Keys are snake_case exactly as written in YAML;
 * `loadSyncFile` returns them with every default filled in (see `schemas/sync.schema.json`).
 *
 * Nothing secret is ever part of these shapes: the connection names environment variables and key
 * files, never their values, so a `SyncConfig` may travel in Temporal workflow arguments and memos.
 */

/** Profile identifier kinds Klaviyo accepts on an event's profile. */
export const PROFILE_IDENTIFIERS = ['email', 'phone_number', 'external_id', 'klaviyo_id'] as const;
export type ProfileIdentifier = (typeof PROFILE_IDENTIFIERS)[number];

/** A fully defaulted event sync definition. */
export interface SyncConfig {
  /** Unique sync name; also the Temporal Schedule id. `^[a-z0-9][a-z0-9_-]{0,62}$`. */
  name: string;
  description?: string;
  source: {
    /** `database.schema.table`, `schema.table` or `table`; each part quoted for the warehouse's dialect. */
    table: string;
    /**
     * Column that breaks ties between rows with the same change-detection timestamp.
     * Defaults to `mapping.unique_id`; with neither, pages never split a group of equal timestamps.
     */
    tie_breaker?: string;
  };
  /** Exactly one of `name` (a constant metric) and `column` (the metric name per row). */
  metric: { name?: string; column?: string };
  mapping: {
    /** Column holding when the event happened. */
    event_timestamp: string;
    /** Column holding when the row last changed; drives incremental reads. Must differ from event_timestamp. */
    change_timestamp: string;
    /** At least one identifier must be mapped. */
    profile: Partial<Record<ProfileIdentifier, string>>;
    unique_id?: string;
    value?: string;
    value_currency?: string;
  };
  schedule: {
    /** Five-field cron expression, evaluated in `timezone`. Exclusive with `interval`. */
    cron?: string;
    /** Interval such as `15m`, `1h`, `1d`. Exclusive with `cron`. */
    interval?: string;
    /** IANA time zone of the cron expression. Default `UTC`. */
    timezone: string;
    paused: boolean;
  };
  options: SyncOptions;
}

/** Run options, all with safe defaults. Durations are strings like `90s`, `5m`, `2h`, `1d`. */
/**
 * The column that orders rows sharing a change timestamp (the cursor's second part): `source.tie_breaker`,
 * else the `unique_id` column; undefined when neither is set (pages then never split such a group).
 */
export function tieBreakerName(sync: SyncConfig): string | undefined {
  return sync.source.tie_breaker ?? sync.mapping.unique_id;
}

export interface SyncOptions {
  /** Rows read per page (one activity per page). Default 5,000. */
  page_size: number;
  /** Rows whose change timestamp is newer than now minus this are left for the next run. Default `5m`. */
  settle_delay: string;
  /** Each run re-reads this window behind the watermark for late-committing rows. Default `0s` (off). */
  lookback: string;
  /** IANA zone in which zone-less timestamps (TIMESTAMP_NTZ, DuckDB TIMESTAMP) are read. Default `UTC`. */
  timestamp_zone: string;
  /** ISO 3166-1 alpha-2 region for phone numbers written without a country code. Default `US`. */
  default_phone_region: string;
  /** Send Klaviyo's `backfill: true` on events of incremental runs too. Default false (backfill runs always send it). */
  backfill: boolean;
}

/** The deployment's one warehouse connection. */
export type ConnectionConfig = DuckDBConnectionConfig | SnowflakeConnectionConfig;

export interface DuckDBConnectionConfig {
  type: 'duckdb';
  /** Path of the DuckDB database file, relative to the connection file's folder when not absolute. */
  path: string;
}

/**
 * A Snowflake account read through `snowflake-sdk` (activities/warehouse/snowflake.ts). The worker
 * reads this from its connection file and the secret from the environment variable or key file named
 * in `auth` when it connects; neither the secret nor this config travels through Temporal.
 */
export interface SnowflakeConnectionConfig {
  type: 'snowflake';
  /** Account identifier: `<orgname>-<account_name>` or the account locator with region (`xy12345.eu-west-1`). */
  account: string;
  /** Login name of the (service) user. */
  user: string;
  /** Role with USAGE on warehouse, database and schema and SELECT on the synced tables; the user's default when absent. */
  role?: string;
  /** Virtual warehouse that runs the reads; the user's default when absent. */
  warehouse?: string;
  /** Default database for sync tables written `schema.table` or `table`. */
  database?: string;
  /** Default schema for sync tables written `table`. */
  schema?: string;
  /** Only for tests against a local Snowflake-compatible server (fakesnow): e.g. `http://127.0.0.1:8000`. */
  access_url?: string;
  /** Exactly one of `password_env` and `private_key_file` (the schema enforces it). */
  auth: {
    /** Environment variable holding the password. */
    password_env?: string;
    /** Path of a PEM private key file, PKCS#8 (encrypted or not) or PKCS#1 (key-pair authentication). */
    private_key_file?: string;
    /** Environment variable holding the passphrase of an encrypted private key file. */
    private_key_passphrase_env?: string;
  };
}

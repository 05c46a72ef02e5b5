/**
 * Test helpers for the local Snowflake (fakesnow behind test/fakesnow/shim.py): connection configs,
 * running setup SQL through the real driver, and the shim's test hooks (users with checked credentials,
 * injected server errors).
 */
import { randomBytes } from 'node:crypto';
import snowflake from 'snowflake-sdk';
import type { SnowflakeConnectionConfig } from '../../config/types.ts';

snowflake.configure({ logLevel: 'OFF' });

/** Environment variable the test connections name for their password (fakesnow accepts any). */
export const TEST_PASSWORD_ENV = 'DWH_IMPORT_TEST_SNOWFLAKE_PASSWORD';
process.env[TEST_PASSWORD_ENV] ??= 'not-a-secret';

/** A fresh database name, so test files sharing one server never see each other's tables. */
export function uniqueDatabase(prefix = 'TEST'): string {
  return `${prefix}_${randomBytes(4).toString('hex').toUpperCase()}`;
}

/** A connection config for the local server. */
export function testConnection(url: string, over: Partial<SnowflakeConnectionConfig> = {}): SnowflakeConnectionConfig {
  return {
    type: 'snowflake',
    account: 'fakesnow',
    user: 'dwh_test',
    role: 'DWH_IMPORT_READER',
    warehouse: 'IMPORT_WH',
    database: 'ANALYTICS',
    schema: 'PUBLIC',
    access_url: url,
    auth: { password_env: TEST_PASSWORD_ENV },
    ...over,
  };
}

/** Runs statements in order through the real driver (database and schema are created on connect). */
export async function snowflakeExec(url: string, database: string, schema: string, ...statements: string[]): Promise<void> {
  const c = snowflake.createConnection({ account: 'fakesnow', username: 'setup', password: 'setup', accessUrl: url, database, schema });
  await new Promise<void>((resolve, reject) => c.connect((err) => (err ? reject(err) : resolve())));
  try {
    for (const sqlText of statements) {
      await new Promise<void>((resolve, reject) =>
        c.execute({ sqlText, complete: (err) => (err ? reject(new Error(`${err.message}\n  in: ${sqlText}`)) : resolve()) }),
      );
    }
  } finally {
    await new Promise<void>((r) => c.destroy(() => r()));
  }
}

async function post(url: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
}

/** Makes the shim check this user's logins: by password, or by key-pair JWT against `publicKey` (PEM). */
export function registerUser(url: string, user: string, creds: { password?: string; publicKey?: string }): Promise<void> {
  return post(url, '/shim/v1/users', { user, password: creds.password, public_key: creds.publicKey });
}

/** Makes the user's next `times` queries fail with this Snowflake error. */
export function injectFault(url: string, user: string, fault: { code: string; message: string; sqlState?: string; times?: number }): Promise<void> {
  return post(url, '/shim/v1/faults', { user, ...fault });
}

interface ShimStats {
  logins: Record<string, number>;
  session_parameters: Record<string, Record<string, string>>;
}

async function stats(url: string): Promise<ShimStats> {
  return (await (await fetch(`${url}/shim/v1/stats`)).json()) as ShimStats;
}

/** Successful logins of a user so far, as the shim counted them. */
export async function loginCount(url: string, user: string): Promise<number> {
  return (await stats(url)).logins[user.toUpperCase()] ?? 0;
}

/** Session parameters the user's sessions set with ALTER SESSION. */
export async function sessionParameters(url: string, user: string): Promise<Record<string, string>> {
  return (await stats(url)).session_parameters[user.toUpperCase()] ?? {};
}

/**
 * Settings that belong to a deployment rather than to a sync, read from the environment (with CLI
 * flags overriding them). Secrets (the Klaviyo key, Temporal API key) come only from here.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | TEMPORAL_ADDRESS | 127.0.0.1:7233 | Temporal frontend host:port |
 * | TEMPORAL_NAMESPACE | default | namespace |
 * | TEMPORAL_API_KEY | | API key (Temporal Cloud); enables TLS |
 * | TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY | | mTLS client certificate and key files |
 * | DWH_IMPORT_TASK_QUEUE | dwh-import | task queue of the workers |
 * | DWH_IMPORT_CONNECTION | connection.yaml | the warehouse connection file |
 * | DWH_IMPORT_SYNCS | syncs | folder of sync files |
 * | DWH_IMPORT_STATE | .data/state.sqlite | SQLite state store (watermarks, rejects) |
 * | KLAVIYO_API_KEY | | private API key (`pk_...`) |
 * | KLAVIYO_BASE_URL | https://a.klaviyo.com | API base URL (a local compatible API in demos and tests) |
 */
import { readFileSync } from 'node:fs';
import { Connection } from '@temporalio/client';

/** Where Temporal is and how to authenticate. */
export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  apiKey?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

/** Temporal settings from the environment, overridden by explicitly given values. */
export function temporalSettings(over: Partial<TemporalSettings> = {}, env = process.env): TemporalSettings {
  return {
    address: over.address ?? env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    namespace: over.namespace ?? env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: over.taskQueue ?? env.DWH_IMPORT_TASK_QUEUE ?? 'dwh-import',
    apiKey: over.apiKey ?? env.TEMPORAL_API_KEY,
    tlsCertFile: over.tlsCertFile ?? env.TEMPORAL_TLS_CERT,
    tlsKeyFile: over.tlsKeyFile ?? env.TEMPORAL_TLS_KEY,
  };
}

/** Options accepted by both `Connection.connect` (client) and `NativeConnection.connect` (worker). */
export interface TemporalConnectionOptions {
  address: string;
  apiKey?: string;
  tls?: boolean | { clientCertPair: { crt: Buffer; key: Buffer } };
}

/** Connection options for `@temporalio/client` / `@temporalio/worker` (TLS when a key or certificate is set). */
export function temporalConnectionOptions(s: TemporalSettings): TemporalConnectionOptions {
  const opts: TemporalConnectionOptions = { address: s.address };
  if (s.apiKey) {
    opts.apiKey = s.apiKey;
    opts.tls = true;
  }
  if (s.tlsCertFile && s.tlsKeyFile) {
    opts.tls = { clientCertPair: { crt: readFileSync(s.tlsCertFile), key: readFileSync(s.tlsKeyFile) } };
  }
  return opts;
}

/** Connects a Temporal client connection. @throws Error naming the address when it is unreachable. */
export async function connectTemporal(s: TemporalSettings): Promise<Connection> {
  try {
    return await Connection.connect(temporalConnectionOptions(s));
  } catch (e) {
    throw new Error(`cannot reach Temporal at ${s.address} (namespace ${s.namespace}): ${(e as Error).message}`);
  }
}

/** Deployment paths and the Klaviyo destination. */
export interface DeploymentSettings {
  connectionFile: string;
  syncsDir: string;
  statePath: string;
  klaviyoBaseUrl: string;
  /** Never logged or passed to Temporal. */
  klaviyoApiKey?: string;
}

export function deploymentSettings(over: Partial<DeploymentSettings> = {}, env = process.env): DeploymentSettings {
  return {
    connectionFile: over.connectionFile ?? env.DWH_IMPORT_CONNECTION ?? 'connection.yaml',
    syncsDir: over.syncsDir ?? env.DWH_IMPORT_SYNCS ?? 'syncs',
    statePath: over.statePath ?? env.DWH_IMPORT_STATE ?? '.data/state.sqlite',
    klaviyoBaseUrl: over.klaviyoBaseUrl ?? env.KLAVIYO_BASE_URL ?? 'https://a.klaviyo.com',
    klaviyoApiKey: over.klaviyoApiKey ?? env.KLAVIYO_API_KEY,
  };
}

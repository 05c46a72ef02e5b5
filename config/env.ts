/**
 * Settings that belong to a deployment rather than to a sync, read from the environment (with CLI
 * flags overriding them). Secrets (the Klaviyo key, the Temporal API key, TLS keys) come only from
 * here, are kept in memory, and never enter logs, workflow arguments, memos or error messages.
 *
 * Temporal: the standard Temporal client environment configuration, loaded with the official
 * `@temporalio/envconfig` (the same rules as the Temporal CLI and every SDK): precedence is CLI flag,
 * then environment variable, then the profile of the TOML file (`TEMPORAL_CONFIG_FILE`, default
 * `~/.config/temporalio/temporal.toml`, profile `TEMPORAL_PROFILE` or `default`), then the default.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | TEMPORAL_ADDRESS | 127.0.0.1:7233 | Temporal frontend host:port |
 * | TEMPORAL_NAMESPACE | default | namespace |
 * | TEMPORAL_API_KEY | | API key (Temporal Cloud); turns TLS on |
 * | TEMPORAL_TLS | | `true` / `false`: force TLS on or off |
 * | TEMPORAL_TLS_CLIENT_CERT_PATH / _DATA | | mTLS client certificate (file or PEM text) |
 * | TEMPORAL_TLS_CLIENT_KEY_PATH / _DATA | | mTLS client key (file or PEM text) |
 * | TEMPORAL_TLS_SERVER_CA_CERT_PATH / _DATA | | CA of a self-signed server |
 * | TEMPORAL_TLS_SERVER_NAME | | TLS server name override (SNI) |
 * | TEMPORAL_GRPC_META_<NAME> | | extra gRPC header `<name>` |
 * | TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE | | TOML profile file and profile name |
 * | TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY | | older names of the client certificate and key paths |
 * | DWH_IMPORT_UI_URL | see `temporalUiUrl` | Temporal Web UI base URL, for links printed by the CLI |
 * | DWH_IMPORT_TASK_QUEUE | dwh-import | task queue of the workers |
 * | DWH_IMPORT_CONNECTION | connection.yaml | the warehouse connection file |
 * | DWH_IMPORT_SYNCS | syncs | folder of sync files |
 * | DWH_IMPORT_STATE | .data/state.sqlite | SQLite state store (watermarks, rejects) |
 * | KLAVIYO_API_KEY | | private API key (`pk_...`) |
 * | KLAVIYO_BASE_URL | https://a.klaviyo.com | API base URL (a local compatible API in demos and tests) |
 */
import { readFileSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import { loadClientConfigProfile, type ConfigDataSource } from '@temporalio/envconfig';

/** A certificate or key: a file path or the PEM text itself. */
export type PemSource = ConfigDataSource;

/** TLS settings of the Temporal connection (all optional; `{}` = TLS with the system's CAs). */
export interface TemporalTls {
  /** Server name to verify (SNI), when it differs from the address's host. */
  serverName?: string;
  /** CA certificate of the server (self-signed deployments). */
  serverCaCert?: PemSource;
  /** mTLS client certificate and key (Temporal Cloud with certificates, self-hosted mTLS). */
  clientCert?: PemSource;
  clientKey?: PemSource;
}

/** Where Temporal is and how to authenticate. */
export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  /** API key (Temporal Cloud). Secret: never logged or printed. */
  apiKey?: string;
  /** `false`/undefined: plain text; `true` or an object: TLS. An API key turns TLS on unless `TEMPORAL_TLS=false`. */
  tls?: boolean | TemporalTls;
  /** Extra gRPC headers (`TEMPORAL_GRPC_META_*`). */
  grpcMeta?: Record<string, string>;
  /** Base URL of the Temporal Web UI, for links (see `temporalUiUrl`). */
  uiUrl?: string;
}

/** What flags may override; `profile` selects a TOML profile. */
export type TemporalOverrides = Partial<TemporalSettings> & { profile?: string };

/**
 * Temporal settings: explicitly given values, else the standard environment variables, else the TOML
 * profile, else the defaults (127.0.0.1:7233, namespace `default`, task queue `dwh-import`).
 * @throws Error naming the TOML file when it cannot be parsed or the requested profile is missing.
 */
export function temporalSettings(over: TemporalOverrides = {}, env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'));
  let profile;
  try {
    profile = loadClientConfigProfile({ profile: over.profile, overrideEnvVars: vars });
  } catch (e) {
    const file = vars.TEMPORAL_CONFIG_FILE ?? '~/.config/temporalio/temporal.toml';
    throw new Error(`cannot read the Temporal client configuration (${file}): ${(e as Error).message}`);
  }
  let tls: boolean | TemporalTls | undefined;
  const t = profile.tls;
  const legacyCert = vars.TEMPORAL_TLS_CERT;
  const legacyKey = vars.TEMPORAL_TLS_KEY;
  if (t?.disabled === true) tls = false;
  else if (t || legacyCert || legacyKey) {
    tls = {
      serverName: t?.serverName,
      serverCaCert: t?.serverCACert,
      clientCert: t?.clientCert ?? (legacyCert ? { path: legacyCert } : undefined),
      clientKey: t?.clientKey ?? (legacyKey ? { path: legacyKey } : undefined),
    };
  }
  const apiKey = over.apiKey ?? profile.apiKey;
  if (over.tls !== undefined) tls = over.tls;
  else if (tls === undefined && apiKey) tls = true;
  const address = over.address ?? profile.address ?? '127.0.0.1:7233';
  return {
    address,
    namespace: over.namespace ?? profile.namespace ?? 'default',
    taskQueue: over.taskQueue ?? vars.DWH_IMPORT_TASK_QUEUE ?? 'dwh-import',
    apiKey,
    tls,
    grpcMeta: over.grpcMeta ?? profile.grpcMeta,
    uiUrl: over.uiUrl ?? vars.DWH_IMPORT_UI_URL ?? temporalUiUrl(address),
  };
}

/**
 * The Web UI that belongs to a frontend address, when it can be known: Temporal Cloud
 * (`*.tmprl.cloud`) -> https://cloud.temporal.io; a local dev server on port P -> http://localhost:P+1000
 * (the dev server's default UI port). Otherwise undefined (set DWH_IMPORT_UI_URL).
 */
export function temporalUiUrl(address: string): string | undefined {
  const m = /^(?:[a-z]+:\/\/)?([^:/]+)(?::(\d+))?$/i.exec(address.trim());
  if (!m) return undefined;
  const host = m[1].toLowerCase();
  if (host.endsWith('.tmprl.cloud')) return 'https://cloud.temporal.io';
  if (host === 'localhost' || host === '127.0.0.1' || host === '::1') return `http://localhost:${Number(m[2] ?? 7233) + 1000}`;
  return undefined;
}

/** TLS options in the shape both `Connection.connect` and `NativeConnection.connect` take. */
export interface TemporalTlsOptions {
  serverNameOverride?: string;
  serverRootCACertificate?: Buffer;
  clientCertPair?: { crt: Buffer; key: Buffer };
}

/** Options accepted by both `Connection.connect` (client) and `NativeConnection.connect` (worker). */
export interface TemporalConnectionOptions {
  address: string;
  apiKey?: string;
  tls?: boolean | TemporalTlsOptions;
  metadata?: Record<string, string>;
}

function pem(src: PemSource | undefined, what: string): Buffer | undefined {
  if (!src) return undefined;
  if ('data' in src) return Buffer.from(src.data);
  try {
    return readFileSync(src.path);
  } catch (e) {
    throw new Error(`cannot read the Temporal ${what} file ${src.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Connection options for `@temporalio/client` / `@temporalio/worker`.
 * @throws Error naming the file when a certificate or key file cannot be read, or when only one of
 * client certificate and key is given.
 */
export function temporalConnectionOptions(s: TemporalSettings): TemporalConnectionOptions {
  const opts: TemporalConnectionOptions = { address: s.address };
  if (s.apiKey) opts.apiKey = s.apiKey;
  if (s.grpcMeta && Object.keys(s.grpcMeta).length) opts.metadata = s.grpcMeta;
  if (s.tls === true) opts.tls = true;
  else if (s.tls && typeof s.tls === 'object') {
    const crt = pem(s.tls.clientCert, 'client certificate');
    const key = pem(s.tls.clientKey, 'client key');
    if (!!crt !== !!key) throw new Error('Temporal mTLS needs both a client certificate and its key (TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH)');
    opts.tls = {
      serverNameOverride: s.tls.serverName,
      serverRootCACertificate: pem(s.tls.serverCaCert, 'server CA certificate'),
      clientCertPair: crt && key ? { crt, key } : undefined,
    };
  }
  return opts;
}

/** A one-line description of the connection for messages, without secrets: `host:port (namespace ns, TLS, API key)`. */
export function describeTemporal(s: TemporalSettings): string {
  const auth = [s.tls ? 'TLS' : null, s.apiKey ? 'API key' : null, s.tls && typeof s.tls === 'object' && s.tls.clientCert ? 'client certificate' : null].filter(Boolean);
  return `${s.address} (namespace ${s.namespace}${auth.length ? `, ${auth.join(', ')}` : ''})`;
}

/** Connects a Temporal client connection. @throws Error naming the address when it is unreachable. */
export async function connectTemporal(s: TemporalSettings): Promise<Connection> {
  try {
    return await Connection.connect({ ...temporalConnectionOptions(s), connectTimeout: 10_000 });
  } catch (e) {
    throw new Error(`cannot reach Temporal at ${describeTemporal(s)}: ${(e as Error).message}`);
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

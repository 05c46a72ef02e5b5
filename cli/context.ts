/** Options shared by CLI commands and how they turn into settings. */
import type { Command } from 'commander';
import { deploymentSettings, temporalSettings, type DeploymentSettings, type TemporalSettings, type TemporalTls } from '../config/env.ts';

/**
 * Adds the Temporal connection flags. Each defaults to the standard Temporal environment variable
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_*, TEMPORAL_API_KEY, TEMPORAL_PROFILE; see
 * config/env.ts). The API key has no flag on purpose: a flag shows in process lists and shell history.
 */
export function withTemporalOptions(cmd: Command): Command {
  return cmd
    .option('--address <host:port>', 'Temporal frontend (env TEMPORAL_ADDRESS, default 127.0.0.1:7233)')
    .option('--namespace <name>', 'Temporal namespace (env TEMPORAL_NAMESPACE, default "default")')
    .option('--task-queue <name>', 'task queue of the workers (env DWH_IMPORT_TASK_QUEUE, default "dwh-import")')
    .option('--profile <name>', 'profile of the Temporal TOML config file (env TEMPORAL_PROFILE)')
    .option('--tls', 'use TLS (env TEMPORAL_TLS; on by default with TEMPORAL_API_KEY or a client certificate)')
    .option('--tls-cert-path <file>', 'mTLS client certificate (env TEMPORAL_TLS_CLIENT_CERT_PATH)')
    .option('--tls-key-path <file>', 'mTLS client key (env TEMPORAL_TLS_CLIENT_KEY_PATH)')
    .option('--tls-ca-path <file>', 'server CA certificate (env TEMPORAL_TLS_SERVER_CA_CERT_PATH)')
    .option('--tls-server-name <name>', 'TLS server name override (env TEMPORAL_TLS_SERVER_NAME)')
    .option('--ui-url <url>', 'Temporal Web UI base URL for links (env DWH_IMPORT_UI_URL)');
}

/** Adds the deployment flags (connection file, syncs folder, state store). */
export function withDeploymentOptions(cmd: Command): Command {
  return cmd
    .option('--connection <file>', 'warehouse connection file (env DWH_IMPORT_CONNECTION, default connection.yaml)')
    .option('--syncs <dir>', 'folder of sync files (env DWH_IMPORT_SYNCS, default syncs)')
    .option('--state <file>', 'SQLite state store (env DWH_IMPORT_STATE, default .data/state.sqlite)');
}

/** The flags of `withTemporalOptions` as commander parses them. */
export interface TemporalFlags {
  address?: string;
  namespace?: string;
  taskQueue?: string;
  profile?: string;
  tls?: boolean;
  tlsCertPath?: string;
  tlsKeyPath?: string;
  tlsCaPath?: string;
  tlsServerName?: string;
  uiUrl?: string;
}

/** Temporal settings: flags over environment over TOML profile over defaults. */
export function temporalFrom(o: TemporalFlags): TemporalSettings {
  const base = temporalSettings({ address: o.address, namespace: o.namespace, taskQueue: o.taskQueue, profile: o.profile, uiUrl: o.uiUrl });
  if (o.tls || o.tlsCertPath || o.tlsKeyPath || o.tlsCaPath || o.tlsServerName) {
    const prev: TemporalTls = base.tls && typeof base.tls === 'object' ? base.tls : {};
    base.tls = {
      serverName: o.tlsServerName ?? prev.serverName,
      serverCaCert: o.tlsCaPath ? { path: o.tlsCaPath } : prev.serverCaCert,
      clientCert: o.tlsCertPath ? { path: o.tlsCertPath } : prev.clientCert,
      clientKey: o.tlsKeyPath ? { path: o.tlsKeyPath } : prev.clientKey,
    };
  }
  return base;
}

export function deploymentFrom(o: { connection?: string; syncs?: string; state?: string }): DeploymentSettings {
  return deploymentSettings({ connectionFile: o.connection, syncsDir: o.syncs, statePath: o.state });
}

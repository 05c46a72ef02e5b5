/** Options shared by CLI commands and how they turn into settings. */
import type { Command } from 'commander';
import { deploymentSettings, temporalSettings, type DeploymentSettings, type TemporalSettings } from '../config/env.ts';

/** Adds the Temporal connection flags (defaults from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, ...). */
export function withTemporalOptions(cmd: Command): Command {
  return cmd
    .option('--address <host:port>', 'Temporal frontend (env TEMPORAL_ADDRESS, default 127.0.0.1:7233)')
    .option('--namespace <name>', 'Temporal namespace (env TEMPORAL_NAMESPACE, default "default")')
    .option('--task-queue <name>', 'task queue of the workers (env DWH_IMPORT_TASK_QUEUE, default "dwh-import")');
}

/** Adds the deployment flags (connection file, syncs folder, state store). */
export function withDeploymentOptions(cmd: Command): Command {
  return cmd
    .option('--connection <file>', 'warehouse connection file (env DWH_IMPORT_CONNECTION, default connection.yaml)')
    .option('--syncs <dir>', 'folder of sync files (env DWH_IMPORT_SYNCS, default syncs)')
    .option('--state <file>', 'SQLite state store (env DWH_IMPORT_STATE, default .data/state.sqlite)');
}

export function temporalFrom(o: { address?: string; namespace?: string; taskQueue?: string }): TemporalSettings {
  return temporalSettings({ address: o.address, namespace: o.namespace, taskQueue: o.taskQueue });
}

export function deploymentFrom(o: { connection?: string; syncs?: string; state?: string }): DeploymentSettings {
  return deploymentSettings({ connectionFile: o.connection, syncsDir: o.syncs, statePath: o.state });
}

/**
 * Operator actions on one sync's schedule: pause and resume with a note, and finding the schedule
 * with errors a data engineer can act on.
 */
import { hostname, userInfo } from 'node:os';
import { ScheduleNotFoundError, type Client, type ScheduleDescription, type ScheduleHandle } from '@temporalio/client';
import { isManaged, storedSync } from './schedules.ts';

/** Raised for a sync the namespace has no (managed) schedule for. */
export class SyncNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyncNotFoundError';
  }
}

/**
 * The schedule of a sync, described.
 * @throws SyncNotFoundError when there is no schedule of that name, or it is not managed by dwh-import.
 */
export async function managedSchedule(client: Client, name: string): Promise<{ handle: ScheduleHandle; description: ScheduleDescription }> {
  const handle = client.schedule.getHandle(name);
  let description: ScheduleDescription;
  try {
    description = await handle.describe();
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) {
      throw new SyncNotFoundError(`no schedule for sync "${name}" in namespace ${client.options.namespace}: create it with dwh-import apply (or check --namespace)`);
    }
    throw e;
  }
  if (!isManaged(description)) throw new SyncNotFoundError(`the schedule "${name}" is not managed by dwh-import; use the Temporal UI or CLI for it`);
  return { handle, description };
}

/** Who did it, for notes: `user@host`. */
export function actor(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers)
  }
  return `${user}@${hostname()}`;
}

/** Outcome of pause/resume. */
export interface PauseOutcome {
  changed: boolean;
  paused: boolean;
  note: string;
  /** Set when the sync file declares the opposite and the next apply will change it back. */
  warning?: string;
}

/**
 * Pauses a sync's schedule: no scheduled runs until resumed; a run in progress finishes; `run` still
 * starts one by hand. `apply` keeps this pause (see `desiredState`). Idempotent.
 */
export async function pauseSync(client: Client, name: string, note?: string): Promise<PauseOutcome> {
  const { handle, description } = await managedSchedule(client, name);
  if (description.state.paused) return { changed: false, paused: true, note: description.state.note ?? '' };
  const text = `paused by ${actor()} with dwh-import pause${note ? `: ${note}` : ''}`;
  await handle.pause(text);
  return { changed: true, paused: true, note: text };
}

/** Resumes a sync's schedule. Warns when the sync file says `schedule.paused: true` (the next apply pauses it again). */
export async function resumeSync(client: Client, name: string, note?: string): Promise<PauseOutcome> {
  const { handle, description } = await managedSchedule(client, name);
  const yamlPaused = storedSync(description)?.schedule.paused === true;
  const warning = yamlPaused ? 'the sync file says schedule.paused: true, so the next dwh-import apply pauses it again; remove that line to keep it running' : undefined;
  if (!description.state.paused) return { changed: false, paused: false, note: description.state.note ?? '', warning };
  const text = `resumed by ${actor()} with dwh-import resume${note ? `: ${note}` : ''}`;
  await handle.unpause(text);
  return { changed: true, paused: false, note: text, warning };
}

/**
 * What the local Klaviyo-compatible API keeps: profiles resolved by identifiers, accepted events
 * deduplicated as Klaviyo does (klaviyo-api.md "Deduplication": an event whose unique_id repeats for the
 * same profile and metric is kept once, the first processed wins; without unique_id the key is the time
 * truncated to the second), and counters.
 */
import { randomUUID } from 'node:crypto';
import type { ProfileIds } from './validate.ts';

/** A profile as stored; identifiers are those seen on events for it. */
export interface StoredProfile {
  id: string;
  email?: string;
  phone_number?: string;
  external_id?: string;
}

/** An accepted event as stored. `time` is the ISO time as sent; `received_at` ISO UTC. */
export interface StoredEvent {
  id: string;
  metric: string;
  profile_id: string;
  time: string;
  unique_id?: string;
  value?: number;
  value_currency?: string;
  backfill: boolean;
  properties: Record<string, unknown>;
  received_at: string;
}

/** Counters exposed at `GET /_local/stats`. */
export interface Counters {
  /** Requests to the event endpoints. */
  requests: number;
  /** Requests answered 202. */
  accepted_requests: number;
  /** Events stored. */
  accepted_events: number;
  /** Events of accepted requests dropped because their unique_id repeated for the same profile and metric. */
  duplicate_events: number;
  /** Requests answered 4xx/5xx (429 included). */
  rejected_requests: number;
  /** Requests answered 429 (by the windows or by an injected burst). */
  throttled: number;
  /** Answers replaced by an injected fault (500, 503, dropped connection, injected 429). */
  injected_faults: number;
  /** Connections cut after the events were stored (the client cannot know they were). */
  dropped_after_accept: number;
  /** Connections cut before processing. */
  dropped_before_accept: number;
}

const identifierKeys = (ids: ProfileIds): string[] => {
  const keys: string[] = [];
  if (ids.email) keys.push(`e:${ids.email.toLowerCase()}`);
  if (ids.phone_number) keys.push(`p:${ids.phone_number}`);
  if (ids.external_id) keys.push(`x:${ids.external_id}`);
  return keys;
};

export class LocalStore {
  readonly profiles = new Map<string, StoredProfile>();
  readonly events: StoredEvent[] = [];
  private byIdentifier = new Map<string, string>();
  private dedup = new Set<string>();
  counters: Counters = LocalStore.zero();

  static zero(): Counters {
    return {
      requests: 0,
      accepted_requests: 0,
      accepted_events: 0,
      duplicate_events: 0,
      rejected_requests: 0,
      throttled: 0,
      injected_faults: 0,
      dropped_after_accept: 0,
      dropped_before_accept: 0,
    };
  }

  /** The existing profile the identifiers point to (Klaviyo id first, then email, phone number, external id), if any. */
  findProfile(ids: ProfileIds): StoredProfile | undefined {
    if (ids.id) {
      const p = this.profiles.get(ids.id);
      if (p) return p;
    }
    for (const k of identifierKeys(ids)) {
      const pid = this.byIdentifier.get(k);
      if (pid) return this.profiles.get(pid);
    }
    return undefined;
  }

  /** Finds the profile one of the identifiers belongs to, else creates one; adds the identifiers it did not have yet. */
  resolveProfile(ids: ProfileIds): StoredProfile {
    let profile = this.findProfile(ids);
    if (!profile) {
      profile = { id: ids.id ?? randomUUID().replace(/-/g, '').slice(0, 26).toUpperCase() };
      this.profiles.set(profile.id, profile);
    }
    if (ids.email && !profile.email) profile.email = ids.email;
    if (ids.phone_number && !profile.phone_number) profile.phone_number = ids.phone_number;
    if (ids.external_id && !profile.external_id) profile.external_id = ids.external_id;
    for (const k of identifierKeys(ids)) if (!this.byIdentifier.has(k)) this.byIdentifier.set(k, profile.id);
    return profile;
  }

  /** The deduplication key of an event: unique_id, or the time truncated to the second without one. */
  static dedupKey(profileId: string, metric: string, uniqueId: string | undefined, time: string): string {
    const id = uniqueId !== undefined ? `u:${uniqueId}` : `t:${Math.floor(Date.parse(time) / 1000)}`;
    return `${profileId}\u0000${metric}\u0000${id}`;
  }

  private seq = 0;

  /** Stores an event unless it repeats (same profile, metric and unique_id). @returns whether it was stored. */
  addEvent(e: Omit<StoredEvent, 'id' | 'received_at'>, receivedAt = new Date().toISOString()): boolean {
    const k = LocalStore.dedupKey(e.profile_id, e.metric, e.unique_id, e.time);
    if (this.dedup.has(k)) {
      this.counters.duplicate_events++;
      return false;
    }
    this.dedup.add(k);
    this.events.push({ ...e, id: `EV${(++this.seq).toString(36).toUpperCase().padStart(8, '0')}`, received_at: receivedAt });
    this.counters.accepted_events++;
    return true;
  }

  reset(): void {
    this.profiles.clear();
    this.events.length = 0;
    this.byIdentifier.clear();
    this.dedup.clear();
    this.counters = LocalStore.zero();
  }
}

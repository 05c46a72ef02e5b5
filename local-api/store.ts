/**
 * What the local Klaviyo-compatible API keeps: profiles resolved by identifiers, accepted events
 * (deduplicated by unique_id per profile and metric, first one wins, as Klaviyo does) and counters.
 */
import { randomUUID } from 'node:crypto';

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
  requests: number;
  accepted_requests: number;
  accepted_events: number;
  /** Events dropped because their unique_id repeated for the same profile and metric. */
  duplicate_events: number;
  rejected_requests: number;
  throttled: number;
  injected_faults: number;
}

export class LocalStore {
  readonly profiles = new Map<string, StoredProfile>();
  readonly events: StoredEvent[] = [];
  private byIdentifier = new Map<string, string>();
  private dedup = new Set<string>();
  counters: Counters = LocalStore.zero();

  static zero(): Counters {
    return { requests: 0, accepted_requests: 0, accepted_events: 0, duplicate_events: 0, rejected_requests: 0, throttled: 0, injected_faults: 0 };
  }

  /**
   * Finds the profile one of the identifiers already belongs to (Klaviyo id first, then email,
   * phone number, external id), else creates one; adds the identifiers it did not have yet.
   */
  resolveProfile(ids: { id?: string; email?: string; phone_number?: string; external_id?: string }): StoredProfile {
    const keys: string[] = [];
    if (ids.email) keys.push(`e:${ids.email.toLowerCase()}`);
    if (ids.phone_number) keys.push(`p:${ids.phone_number}`);
    if (ids.external_id) keys.push(`x:${ids.external_id}`);
    let profile = ids.id ? this.profiles.get(ids.id) : undefined;
    for (const k of keys) {
      if (profile) break;
      const pid = this.byIdentifier.get(k);
      if (pid) profile = this.profiles.get(pid);
    }
    if (!profile) {
      profile = { id: ids.id ?? randomUUID().replace(/-/g, '').slice(0, 26).toUpperCase() };
      this.profiles.set(profile.id, profile);
    }
    if (ids.email && !profile.email) profile.email = ids.email;
    if (ids.phone_number && !profile.phone_number) profile.phone_number = ids.phone_number;
    if (ids.external_id && !profile.external_id) profile.external_id = ids.external_id;
    for (const k of keys) if (!this.byIdentifier.has(k)) this.byIdentifier.set(k, profile.id);
    return profile;
  }

  /** Stores an event unless its unique_id repeats for the same profile and metric. @returns whether it was stored. */
  addEvent(e: Omit<StoredEvent, 'id' | 'received_at'>): boolean {
    if (e.unique_id !== undefined) {
      const k = `${e.profile_id}\u0000${e.metric}\u0000${e.unique_id}`;
      if (this.dedup.has(k)) {
        this.counters.duplicate_events++;
        return false;
      }
      this.dedup.add(k);
    }
    this.events.push({ ...e, id: randomUUID(), received_at: new Date().toISOString() });
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

import type { AuditLog, AuditRecord } from '../audit/audit-log.js';
import type { PreferenceChangeEvent } from '../change-feed/change-event.js';
import type {
  AccessUpdateOutcome,
  AdminAuditInput,
  ErasureOutcome,
  RecentWrites,
  UsageDay,
  UserAccess,
  UserAccessChange,
} from './admin-state.js';

/** One stored layer of a user's values: the user-global or a realm layer. */
export interface StoredLayer {
  /** Increments by one on every write of this layer; 0 when never written. */
  readonly version: number;
  /** ISO 8601 time of the last write, or null when never written. */
  readonly updatedAt: string | null;
  /** The user's own values in this layer, by preference key. */
  readonly values: Readonly<Record<string, unknown>>;
  /**
   * The configuration version whose migrations the values have been
   * through; absent for a layer stored before any migration existed.
   * Reads apply newer migrations (see realm-config/migrations.ts).
   */
  readonly configVersion?: number;
}

/**
 * What the store holds for one user in one realm: the realm layer (realm
 * fields and realm-specific values of global fields) and the user-global
 * layer (global fields that follow the user into every realm).
 */
export interface StoredPreference {
  readonly realm: string;
  readonly userId: string;
  readonly realmLayer: StoredLayer;
  readonly globalLayer: StoredLayer;
}

/**
 * The Preference version a client sees: the sum of both layer versions.
 * Each write bumps at least one layer, so it grows with every change of the
 * user's effective values in this realm, whichever layer changed.
 */
export function preferenceVersion(stored: StoredPreference): number {
  return stored.realmLayer.version + stored.globalLayer.version;
}

/** Changes to one layer: keys to set, keys to remove (reset). */
export interface LayerPatch {
  readonly set: Readonly<Record<string, unknown>>;
  readonly unset: readonly string[];
  /** Marks the layer as migrated up to this configuration version. */
  readonly configVersion?: number;
}

/**
 * A write, computed from what was read. The store applies it only if
 * neither layer changed since `basedOn` was read (compare-and-set); if one
 * did, the store reads again and calls the planner again.
 */
export interface PlannedWrite {
  readonly realmPatch: LayerPatch;
  readonly globalPatch: LayerPatch;
}

/**
 * Who wrote, and on whose request; copied into change events (actor and
 * request id) and into the write's audit record (all of it).
 */
export interface WriteMetadata {
  readonly actor: string;
  readonly requestId: string;
  /** The actor's roles, for the audit record. @default [] */
  readonly actorRoles?: readonly string[];
  /** The caller's network address, for the audit record. @default null */
  readonly clientAddress?: string | null;
  /**
   * Whether the write counts in the realm's usage analytics (writes,
   * active users, changed keys). Batch migrations are not usage.
   * @default true
   */
  readonly countsAsUsage?: boolean;
}

/**
 * Plans a write from the current state. Throws (a GraphQL error) to refuse
 * the write; returns null when there is nothing to change.
 */
export type WritePlanner = (current: StoredPreference) => PlannedWrite | null;

export interface WriteOutcome {
  /** The state after the write (or the unchanged state for a no-op). */
  readonly preference: StoredPreference;
  /** One event per Preference whose values changed; empty for a no-op. */
  readonly events: readonly PreferenceChangeEvent[];
  /**
   * The write's ACCEPTED record in the writing realm's audit log, stored
   * atomically with the write; with no changes for a no-op.
   */
  readonly audit: AuditRecord;
}

/** A page of a realm's users that have stored values. */
export interface UserPage {
  readonly userIds: readonly string[];
  /** Pass back to get the next page; null when this was the last page. */
  readonly nextCursor: string | null;
}

/** A slice of a realm's change log, oldest first. */
export interface ChangeLogSlice {
  readonly events: readonly PreferenceChangeEvent[];
  /**
   * True when events after the requested cursor were already trimmed by
   * retention, so the caller missed some and must re-fetch current state.
   */
  readonly truncated: boolean;
}

/**
 * Where preference state lives. Keys are partitioned by realm (plus one
 * user-global partition), so one realm's data can be listed, exported or
 * dropped alone. Implementations: Redis for production, memory for the
 * embedded default; both pass the same contract suite.
 *
 * A store is also the audit log: a write and its audit record must be
 * stored in one atomic step, so they live in the same place.
 */
export interface PreferenceStore extends AuditLog {
  /**
   * Which data set this store reads and writes (in Redis, the key
   * prefix): announcements on a bus shared by several deployments carry
   * it, so each process acts on its own deployment's only.
   */
  readonly namespace: string;

  /** Reads one user's layers in a realm; never-written layers are empty. */
  read(realm: string, userId: string): Promise<StoredPreference>;

  /** Reads several users of one realm in one round trip, in input order. */
  readMany(
    realm: string,
    userIds: readonly string[],
  ): Promise<StoredPreference[]>;

  /**
   * Applies a planned write atomically: both layers, the change-log
   * entries and the ACCEPTED audit record (in the writing realm's log) are
   * stored together or not at all. `realms` lists every realm whose change
   * log must record a change of the user-global layer. A planner that
   * throws stores nothing, not even an audit record: recording the refusal
   * is the caller's part.
   */
  write(
    realm: string,
    userId: string,
    plan: WritePlanner,
    meta: WriteMetadata,
    realms: readonly string[],
  ): Promise<WriteOutcome>;

  /** Lists the users of a realm that have a stored realm layer. */
  listUsers(
    realm: string,
    page: { after?: string | null; limit: number },
  ): Promise<UserPage>;

  /** Reads a realm's change log after a cursor (exclusive), oldest first. */
  readChanges(
    realm: string,
    after: string | null,
    limit: number,
  ): Promise<ChangeLogSlice>;

  /**
   * The cursor of the realm's newest change, or null when it has none. A
   * reader that starts here sees exactly the changes made from now on.
   */
  latestCursor(realm: string): Promise<string | null>;

  /**
   * Removes every stored value and change of one realm. The realm's audit
   * log stays: it ages out by retention like any other.
   */
  dropRealm(realm: string): Promise<void>;

  /** How many users have a stored realm layer (the realm's user index). */
  countUsers(realm: string): Promise<number>;

  /** One user's access in a realm; the default for an untouched user. */
  readUserAccess(realm: string, userId: string): Promise<UserAccess>;

  /**
   * Every user of a realm whose access differs from the default (disabled,
   * or with granted or revoked roles). Processes keep this in memory.
   */
  listUserAccess(realm: string): Promise<ReadonlyMap<string, UserAccess>>;

  /**
   * Changes one user's access and appends its ACCEPTED audit record (with
   * the access before and after) in one atomic step.
   */
  updateUserAccess(
    realm: string,
    userId: string,
    change: UserAccessChange,
    audit: AdminAuditInput,
  ): Promise<AccessUpdateOutcome>;

  /**
   * Right to be forgotten in one realm: removes the user's realm layer and
   * their entry in the realm's user index, appends a change event (keys
   * erased, no values) and the ACCEPTED audit record (keys only, no
   * values) in one atomic step. The user-global layer, the user's access
   * and earlier change-log and audit entries stay.
   */
  erasePreferences(
    realm: string,
    userId: string,
    audit: AdminAuditInput,
  ): Promise<ErasureOutcome>;

  /**
   * Usage of a realm on the given dates (`YYYY-MM-DD`, UTC), in the order
   * given, each with its `topKeys` most changed keys. Days past retention
   * or without writes read as zero.
   */
  readUsage(
    realm: string,
    dates: readonly string[],
    topKeys: number,
  ): Promise<UsageDay[]>;

  /** Writes of a realm in the trailing hour and day, to the minute. */
  readRecentWrites(realm: string): Promise<RecentWrites>;

  /**
   * Sets a gateway's open subscriptions in each realm of `counts`; 0
   * withdraws its report there. A report counts for `ttlMs`, so a gateway
   * that stops reporting (it crashed) drops out of the sums.
   */
  reportSubscriptions(
    gatewayId: string,
    counts: ReadonlyMap<string, number>,
    ttlMs: number,
  ): Promise<void>;

  /** Open subscriptions of a realm, summed over the live reports. */
  countSubscriptions(realm: string): Promise<number>;

  /** Answers when the backing service is reachable. */
  ping(): Promise<boolean>;

  close(): Promise<void>;
}

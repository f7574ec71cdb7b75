import {
  preferenceId,
  type PreferenceChangeEvent,
} from '../change-feed/change-event.js';
import type { GraphQLError } from 'graphql';
import { realmsError } from '../errors/graphql-errors.js';
import type { AuditRecord } from '../audit/audit-log.js';
import {
  acceptedDraft,
  completeAuditRecord,
  layerChanges,
  type AuditDraft,
} from './audit-entries.js';
import type {
  LayerPatch,
  PlannedWrite,
  StoredLayer,
  StoredPreference,
  WriteMetadata,
  WriteOutcome,
  WritePlanner,
} from './preference-store.js';

/**
 * Logic both preference stores share: applying a planned write to the
 * layers, deciding which realms' change logs record it, building the change
 * events and the audit record, and the compare-and-set retry loop around a
 * store's own commit.
 */

/** A layer that was never written. */
export const EMPTY_LAYER: StoredLayer = Object.freeze({
  version: 0,
  updatedAt: null,
  values: Object.freeze({}),
});

/**
 * The realm id of the user-global partition. A realm of this name would
 * share its keys with the global layer, so stores refuse it.
 */
export const GLOBAL_PARTITION = 'global';

/** How often a write is re-planned after losing a race, by default. */
export const DEFAULT_MAX_WRITE_ATTEMPTS = 20;

/** What a never-written user looks like in a realm. */
export function emptyPreference(
  realm: string,
  userId: string,
): StoredPreference {
  return { realm, userId, realmLayer: EMPTY_LAYER, globalLayer: EMPTY_LAYER };
}

/**
 * Refuses realm ids a store cannot keep apart from other data: the global
 * partition's name, and characters that are special in Redis key patterns
 * and hash tags or in change-log cursors.
 */
export function assertStorableRealm(realm: string): void {
  if (realm === GLOBAL_PARTITION || !/^[a-z0-9][a-z0-9_-]*$/.test(realm)) {
    throw new Error(`Realm id "${realm}" cannot be stored.`);
  }
}

/** Refuses a page size that is not a positive integer (caller misuse). */
export function assertPageLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`Page limit must be a positive integer: ${limit}`);
  }
}

/** One realm whose change log records a write, and what changed for it. */
export interface ChangeTarget {
  readonly realm: string;
  readonly changedKeys: readonly string[];
}

/** A planned write applied in memory, not yet stored. */
export interface AppliedWrite {
  readonly before: StoredPreference;
  readonly after: StoredPreference;
  readonly realmLayerChanged: boolean;
  readonly globalLayerChanged: boolean;
  /** The write time: the changed layers' `updatedAt` and the events' `at`. */
  readonly at: string;
  /** One per change log to append to; the writing realm comes first. */
  readonly targets: readonly ChangeTarget[];
  /** The write's ACCEPTED audit record, for the writing realm's log. */
  readonly audit: AuditDraft;
}

/** A change event before the store has given it a position and version. */
export type ChangeEventBody = Omit<PreferenceChangeEvent, 'cursor' | 'version'>;

/** Where and at which Preference version one event was appended. */
export interface CommittedEvent {
  readonly cursor: string;
  readonly version: number;
}

function isEmptyPatch(patch: LayerPatch): boolean {
  return Object.keys(patch.set).length === 0 && patch.unset.length === 0;
}

function patchedKeys(patch: LayerPatch): string[] {
  return [...new Set([...Object.keys(patch.set), ...patch.unset])];
}

/**
 * Applies one layer's patch. Sets go first and unsets last, so a key named
 * in both ends up reset. An empty patch leaves the layer as it was, version
 * included: only layers that really change are written.
 */
export function applyLayerPatch(
  layer: StoredLayer,
  patch: LayerPatch,
  at: string,
): StoredLayer {
  if (isEmptyPatch(patch)) return layer;

  const values: Record<string, unknown> = { ...layer.values, ...patch.set };
  for (const key of patch.unset) delete values[key];
  const configVersion = patch.configVersion ?? layer.configVersion;
  return {
    version: layer.version + 1,
    updatedAt: at,
    values,
    ...(configVersion !== undefined ? { configVersion } : {}),
  };
}

/**
 * Lists the change logs a write goes to. A realm-layer change concerns only
 * the writing realm; a global-layer change concerns every listed realm,
 * because the value follows the user there. Other realms only see the
 * global keys; the writing realm sees both layers' keys.
 */
function changeTargets(
  realm: string,
  plan: PlannedWrite,
  realms: readonly string[],
): ChangeTarget[] {
  const realmKeys = patchedKeys(plan.realmPatch);
  const globalKeys = patchedKeys(plan.globalPatch);
  const own = {
    realm,
    changedKeys: [...new Set([...realmKeys, ...globalKeys])],
  };
  if (globalKeys.length === 0) return [own];

  const others = [...new Set(realms)].filter((r) => r !== realm);
  return [own, ...others.map((r) => ({ realm: r, changedKeys: globalKeys }))];
}

/**
 * Applies a planned write to what was read. Returns null when neither patch
 * changes anything, so the caller stores nothing and emits no event.
 */
export function applyPlannedWrite(
  current: StoredPreference,
  plan: PlannedWrite,
  realms: readonly string[],
  now: Date,
  meta: WriteMetadata,
): AppliedWrite | null {
  const realmLayerChanged = !isEmptyPatch(plan.realmPatch);
  const globalLayerChanged = !isEmptyPatch(plan.globalPatch);
  if (!realmLayerChanged && !globalLayerChanged) return null;

  const at = now.toISOString();
  const after: StoredPreference = {
    ...current,
    realmLayer: applyLayerPatch(current.realmLayer, plan.realmPatch, at),
    globalLayer: applyLayerPatch(current.globalLayer, plan.globalPatch, at),
  };
  const changes = [
    ...layerChanges(
      'REALM',
      plan.realmPatch,
      current.realmLayer,
      after.realmLayer,
    ),
    ...layerChanges(
      'GLOBAL',
      plan.globalPatch,
      current.globalLayer,
      after.globalLayer,
    ),
  ];
  return {
    before: current,
    after,
    realmLayerChanged,
    globalLayerChanged,
    at,
    targets: changeTargets(current.realm, plan, realms),
    audit: acceptedDraft({
      realm: current.realm,
      userId: current.userId,
      at,
      changes,
      meta,
    }),
  };
}

/** The event of one change target, without cursor and version. */
export function changeEventBody(
  applied: AppliedWrite,
  target: ChangeTarget,
  meta: WriteMetadata,
): ChangeEventBody {
  const { userId, realm: originRealm } = applied.after;
  return {
    type: 'preference.changed',
    realm: target.realm,
    userId,
    preferenceId: preferenceId(target.realm, userId),
    changedKeys: target.changedKeys,
    actor: meta.actor,
    originRealm,
    at: applied.at,
    requestId: meta.requestId,
  };
}

/**
 * Completes an event body. Fields are listed explicitly so an event read
 * back from a change log has the same shape as the one the write returned.
 */
export function completeChangeEvent(
  body: ChangeEventBody,
  committed: CommittedEvent,
): PreferenceChangeEvent {
  return {
    type: body.type,
    cursor: committed.cursor,
    realm: body.realm,
    userId: body.userId,
    preferenceId: body.preferenceId,
    changedKeys: [...body.changedKeys],
    version: committed.version,
    actor: body.actor,
    originRealm: body.originRealm,
    at: body.at,
    requestId: body.requestId,
  };
}

/** What a store's commit stored: where each event and the record went. */
export interface CommittedWrite {
  /** One per change target, in order. */
  readonly events: readonly CommittedEvent[];
  /** The audit record's entry id. */
  readonly auditId: string;
}

/** The steps a store supplies to the shared compare-and-set loop. */
export interface CasBackend {
  /** Reads both layers of the user in the writing realm. */
  read(): Promise<StoredPreference>;
  /**
   * Stores `applied` only if both layer versions still equal those of
   * `applied.before`, appending one event per target and the audit
   * record, all atomically. Returns null when a version moved.
   */
  commit(applied: AppliedWrite): Promise<CommittedWrite | null>;
  /** Appends the audit record of a write that changed nothing. */
  appendAudit(draft: AuditDraft): Promise<AuditRecord>;
}

/**
 * Runs the optimistic write loop: read, plan, compare-and-set, and on a
 * lost race read and plan again. Planner errors propagate with nothing
 * stored. Throws `write contention` after `maxAttempts` lost races.
 * `now` is the store's clock: the write time and the audit record's.
 */
export async function writeWithRetry(
  backend: CasBackend,
  plan: WritePlanner,
  meta: WriteMetadata,
  realms: readonly string[],
  maxAttempts: number,
  now: () => Date,
): Promise<WriteOutcome> {
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const current = await backend.read();
    const planned = plan(current);
    const applied =
      planned === null
        ? null
        : applyPlannedWrite(current, planned, realms, now(), meta);
    if (applied === null) {
      // Nothing to store, but the write was accepted: the log says so.
      const audit = await backend.appendAudit(
        acceptedDraft({
          realm: current.realm,
          userId: current.userId,
          at: now().toISOString(),
          changes: [],
          meta,
        }),
      );
      return { preference: current, events: [], audit };
    }

    const committed = await backend.commit(applied);
    if (committed === null) continue;

    const events = applied.targets.map((target, i) => {
      const entry = committed.events[i];
      if (entry === undefined) {
        throw new Error('Store committed fewer events than targets.');
      }
      return completeChangeEvent(changeEventBody(applied, target, meta), entry);
    });
    const audit = completeAuditRecord(applied.audit, committed.auditId);
    return { preference: applied.after, events, audit };
  }
  throw new Error('write contention');
}

/**
 * Splits a change-log cursor `<realm>/<position>` and checks it belongs to
 * `realm`. Returns the position, or null when the cursor is malformed or
 * names another realm; the caller turns that into a client error.
 */
export function cursorPosition(realm: string, cursor: string): string | null {
  const slash = cursor.lastIndexOf('/');
  if (slash <= 0 || cursor.slice(0, slash) !== realm) return null;
  return cursor.slice(slash + 1);
}

/** The client error for a cursor that is malformed or of another realm. */
export function invalidCursor(realm: string, cursor: string): GraphQLError {
  return realmsError(
    'BAD_USER_INPUT',
    `"${cursor}" is not a change-log cursor of realm "${realm}".`,
    { cursor },
  );
}

/**
 * The change event of an erasure in `realm`: the erased keys, no values.
 * Its version is the preference's after the erasure (the global layer's).
 */
export function erasureEventBody(
  realm: string,
  userId: string,
  erasedKeys: readonly string[],
  meta: { readonly actor: string; readonly requestId: string },
  at: string,
): ChangeEventBody {
  return {
    type: 'preference.changed',
    realm,
    userId,
    preferenceId: preferenceId(realm, userId),
    changedKeys: [...erasedKeys],
    actor: meta.actor,
    originRealm: realm,
    at,
    requestId: meta.requestId,
  };
}

/**
 * The audit changes of an erasure: each erased key with neither value, so
 * the log does not keep what the erasure removed.
 */
export function erasureAuditChanges(erasedKeys: readonly string[]) {
  return erasedKeys.map((key) => ({
    key,
    layer: 'REALM' as const,
    before: null,
    after: null,
  }));
}

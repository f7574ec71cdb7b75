import DataLoader from 'dataloader';
import { forbidden, notFound, realmsError } from '../errors/graphql-errors.js';
import {
  parsePreferenceId,
  preferenceId,
} from '../change-feed/change-event.js';
import { mayAccessPreference, type Identity } from '../identity/identity.js';
import type { StoredPreference } from '../storage/preference-store.js';
import type { SubgraphContext } from './subgraph-server.js';

/** A Preference entity before its fields are resolved. */
export interface PreferenceRef {
  readonly id: string;
  readonly realm: string;
  readonly userId: string;
}

export function preferenceRef(realm: string, userId: string): PreferenceRef {
  return { id: preferenceId(realm, userId), realm, userId };
}

/**
 * The preference an operation targets: the caller's own in the request's
 * realm, or, given an id, that one if the caller may access it. Refusals
 * are FORBIDDEN whether or not the target exists; only a platform admin,
 * who may see every realm, learns that a realm does not exist.
 *
 * In a mutation, the target asked for and the access granted are noted
 * on the context's write attempt, so a refusal is audited with the right
 * target in the right realm.
 */
export function targetPreference(
  context: SubgraphContext,
  id?: string | null,
): PreferenceRef {
  const identity = context.requireIdentity();
  context.writeAttempt?.noteRequested(id ?? null);
  const target = accessiblePreference(context, identity, id);
  context.writeAttempt?.noteGranted(target);
  return target;
}

function accessiblePreference(
  context: SubgraphContext,
  identity: Identity,
  id: string | null | undefined,
): PreferenceRef {
  if (id === undefined || id === null) {
    return preferenceRef(context.forwarded.realm, identity.userId);
  }
  const parsed = parsePreferenceId(id);
  if (!parsed) {
    throw realmsError(
      'BAD_USER_INPUT',
      'A preference id is "<realm>:<userId>".',
      {
        violations: [
          { path: ['id'], key: null, rule: 'format', message: 'malformed id' },
        ],
      },
    );
  }
  if (!mayAccessPreference(identity, parsed.realm, parsed.userId))
    throw forbidden();
  if (!context.preferences.catalog.realm(parsed.realm))
    throw notFound(`Realm "${parsed.realm}"`);
  return preferenceRef(parsed.realm, parsed.userId);
}

/**
 * Loads stored preferences through a per-request DataLoader, so a query
 * that touches many preferences (an admin list, an `_entities` batch)
 * reads each realm's users in one store round trip.
 */
export function loadStoredPreference(
  context: SubgraphContext,
  ref: PreferenceRef,
): Promise<StoredPreference> {
  return preferenceLoader(context).load(ref);
}

function preferenceLoader(
  context: SubgraphContext,
): DataLoader<PreferenceRef, StoredPreference, string> {
  let loader = context.memo.get('stored-preferences') as
    DataLoader<PreferenceRef, StoredPreference, string> | undefined;
  if (!loader) {
    loader = new DataLoader((refs) => loadGrouped(context, refs), {
      cacheKeyFn: (r) => r.id,
    });
    context.memo.set('stored-preferences', loader);
  }
  return loader;
}

async function loadGrouped(
  context: SubgraphContext,
  refs: readonly PreferenceRef[],
): Promise<StoredPreference[]> {
  const byRealm = new Map<string, PreferenceRef[]>();
  for (const ref of refs) {
    byRealm.set(ref.realm, [...(byRealm.get(ref.realm) ?? []), ref]);
  }
  const loaded = new Map<string, StoredPreference>();
  for (const [realm, group] of byRealm) {
    const stored = await context.preferences.readMany(
      realm,
      group.map((r) => r.userId),
    );
    group.forEach((ref, i) => {
      const preference = stored[i];
      if (preference) loaded.set(ref.id, preference);
    });
  }
  return refs.map((ref) => loaded.get(ref.id) as StoredPreference);
}

/**
 * Makes the rest of the request see exactly what a write stored: its
 * response then reports the version this write produced, even when other
 * writes to the same preference land before the response is resolved.
 */
export function rememberWrittenPreference(
  context: SubgraphContext,
  ref: PreferenceRef,
  stored: StoredPreference,
): void {
  preferenceLoader(context).clear(ref).prime(ref, stored);
}

/**
 * Resolves an entity reference from the gateway (`_entities`), checking
 * access again: the gateway is trusted with identity, not with deciding
 * who may read what.
 */
export function referencedPreference(
  context: SubgraphContext,
  reference: { id: string },
): PreferenceRef {
  return targetPreference(context, reference.id);
}

/**
 * The realm an admin operation acts on: the request's realm unless one is
 * named. Realm admins reach their own realm only, platform admins any
 * (NOT_FOUND for one that does not exist); everyone else is FORBIDDEN.
 */
export function administeredRealm(
  context: SubgraphContext,
  requested: string | null | undefined,
): string {
  const identity = context.requireIdentity();
  const realm = requested ?? context.forwarded.realm;
  if (identity.roles.includes('platform-admin')) {
    if (!context.preferences.catalog.realm(realm)) {
      throw notFound(`Realm "${realm}"`);
    }
    return realm;
  }
  if (identity.roles.includes('realm-admin') && realm === identity.realm) {
    return realm;
  }
  throw forbidden();
}

import type {
  PreferenceDefinition,
  PreferenceSource,
  RealmConfig,
} from '../realm-config/catalog.js';
import type { StoredPreference } from '../storage/preference-store.js';

/** A preference key's value in a realm for one user, and where it came from. */
export interface EffectiveValue {
  readonly key: string;
  readonly value: unknown;
  readonly source: PreferenceSource;
  readonly definition: PreferenceDefinition;
}

/**
 * Resolves one key, highest layer first:
 *
 * 1. the user's realm-specific value (USER_REALM);
 * 2. for a global key, the user's own global value (USER_GLOBAL), which
 *    follows the user into every realm;
 * 3. the realm's default where it overrides the global one (REALM_DEFAULT);
 * 4. the global default (GLOBAL_DEFAULT).
 *
 * A locked key skips the user's layers. A stored value that the realm's
 * current rules refuse (a user-global value set in a looser realm, or one
 * stored before a rule was tightened) is skipped rather than served, so
 * every effective value is valid where it is read.
 */
export function resolveValue(
  definition: PreferenceDefinition,
  stored: StoredPreference,
): EffectiveValue {
  const { key } = definition;
  if (!definition.locked) {
    const layers: [Readonly<Record<string, unknown>>, PreferenceSource][] = [
      [stored.realmLayer.values, 'USER_REALM'],
    ];
    if (definition.scope === 'GLOBAL') {
      layers.push([stored.globalLayer.values, 'USER_GLOBAL']);
    }
    for (const [values, source] of layers) {
      if (!Object.hasOwn(values, key)) continue;
      const value = values[key];
      if (definition.check(value).length === 0) {
        return { key, value, source, definition };
      }
    }
  }
  return {
    key,
    value: definition.defaultValue,
    source: definition.defaultSource,
    definition,
  };
}

/** Every key of a realm, resolved, in definition order. */
export function effectiveValues(
  realm: RealmConfig,
  stored: StoredPreference,
  keys?: readonly string[],
): EffectiveValue[] {
  const definitions = keys
    ? keys.flatMap((key) => {
        const definition = realm.definitions.get(key);
        return definition ? [definition] : [];
      })
    : [...realm.definitions.values()];
  return definitions.map((definition) => resolveValue(definition, stored));
}

/** The effective values as a plain key → value object. */
export function effectiveValueMap(
  realm: RealmConfig,
  stored: StoredPreference,
): Record<string, unknown> {
  const map: Record<string, unknown> = {};
  for (const { key, value } of effectiveValues(realm, stored)) {
    map[key] = value;
  }
  return map;
}

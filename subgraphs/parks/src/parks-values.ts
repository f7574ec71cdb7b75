import {
  loadStoredPreference,
  resolveValue,
  type PreferenceRef,
  type RealmConfig,
  type StoredPreference,
  type SubgraphContext,
} from '@realms/platform';

/** The realm whose division this subgraph serves, and its writer id. */
export const PARKS_REALM = 'parks';

/**
 * The effective value of each parks division key, in the JSON shape its
 * schema describes (`parks.<name>` in `schema/realms/parks.json`).
 */
export interface ParksValues {
  readonly homePark: string;
  readonly partySize: number;
  readonly travelDates: { readonly start: string; readonly end: string } | null;
  readonly dietaryRestrictions: readonly string[];
  readonly diningPlan: string;
  readonly accessibilityNeeds: readonly string[];
  readonly crowdTolerance: string;
  readonly thrillLevel: number;
}

/**
 * One preference's parks values, each resolved only when a field asks
 * for it, from the realm configuration current at load time.
 */
export class ParksView {
  constructor(
    private readonly realm: RealmConfig,
    private readonly stored: StoredPreference,
  ) {}

  /** The effective value of `parks.<name>`: the user's, or the default. */
  value<Name extends keyof ParksValues>(name: Name): ParksValues[Name] {
    const key = `${PARKS_REALM}.${name}`;
    const definition = this.realm.definitions.get(key);
    if (!definition) {
      throw new Error(`Realm "${PARKS_REALM}" does not define "${key}".`);
    }
    // resolveValue never serves a value the realm's rules refuse, so the
    // value has the shape its schema, and so ParksValues, describes.
    return resolveValue(definition, this.stored).value as ParksValues[Name];
  }
}

/**
 * The parks view of a preference, or null when the preference belongs to
 * another realm: other realms have no parks keys.
 */
export async function loadParksView(
  context: SubgraphContext,
  ref: PreferenceRef,
): Promise<ParksView | null> {
  if (ref.realm !== PARKS_REALM) return null;
  const realm = context.preferences.catalog.realm(PARKS_REALM);
  if (!realm) throw new Error(`Realm "${PARKS_REALM}" is not configured.`);
  return new ParksView(realm, await loadStoredPreference(context, ref));
}

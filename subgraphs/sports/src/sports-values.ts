import {
  loadStoredPreference,
  resolveValue,
  type PreferenceRef,
  type RealmConfig,
  type StoredPreference,
  type SubgraphContext,
} from '@realms/platform';

/** The realm whose division this subgraph serves, and its writer id. */
export const SPORTS_REALM = 'sports';

/**
 * The effective value of each sports division key, in the JSON shape its
 * schema describes (`sports.<name>` in `schema/realms/sports.json`).
 */
export interface SportsValues {
  readonly alertEvents: readonly string[];
  readonly alertChannels: readonly string[];
  readonly alertQuietHours: {
    readonly start: string;
    readonly end: string;
  } | null;
  readonly favoriteTeams: readonly string[];
  readonly statsUpdateFrequency: string;
}

/**
 * One preference's sports values, each resolved only when a field asks
 * for it, from the realm configuration current at load time.
 */
export class SportsView {
  constructor(
    private readonly realm: RealmConfig,
    private readonly stored: StoredPreference,
  ) {}

  /** The effective value of `sports.<name>`: the user's, or the default. */
  value<Name extends keyof SportsValues>(name: Name): SportsValues[Name] {
    const key = `${SPORTS_REALM}.${name}`;
    const definition = this.realm.definitions.get(key);
    if (!definition) {
      throw new Error(`Realm "${SPORTS_REALM}" does not define "${key}".`);
    }
    // resolveValue never serves a value the realm's rules refuse, so the
    // value has the shape its schema, and so SportsValues, describes.
    return resolveValue(definition, this.stored).value as SportsValues[Name];
  }
}

/**
 * The sports view of a preference, or null when the preference belongs to
 * another realm: other realms have no sports keys.
 */
export async function loadSportsView(
  context: SubgraphContext,
  ref: PreferenceRef,
): Promise<SportsView | null> {
  if (ref.realm !== SPORTS_REALM) return null;
  const realm = context.preferences.catalog.realm(SPORTS_REALM);
  if (!realm) throw new Error(`Realm "${SPORTS_REALM}" is not configured.`);
  return new SportsView(realm, await loadStoredPreference(context, ref));
}

import {
  loadStoredPreference,
  resolveValue,
  type PreferenceRef,
  type RealmConfig,
  type StoredPreference,
  type SubgraphContext,
} from '@realms/platform';

/** The realm whose division this subgraph serves, and its writer id. */
export const ENTERTAINMENT_REALM = 'entertainment';

/**
 * The effective value of each entertainment division key, in the JSON
 * shape its schema describes (`entertainment.<name>` in
 * `schema/realms/entertainment.json`).
 */
export interface EntertainmentValues {
  readonly genres: readonly string[];
  readonly maturityRating: string;
  readonly languages: readonly string[];
  readonly autoplay: boolean;
}

/**
 * One preference's entertainment values, each resolved only when a field
 * asks for it, from the realm configuration current at load time.
 */
export class EntertainmentView {
  constructor(
    private readonly realm: RealmConfig,
    private readonly stored: StoredPreference,
  ) {}

  /** The effective `entertainment.<name>`: the user's, or the default. */
  value<Name extends keyof EntertainmentValues>(
    name: Name,
  ): EntertainmentValues[Name] {
    const key = `${ENTERTAINMENT_REALM}.${name}`;
    const definition = this.realm.definitions.get(key);
    if (!definition) {
      throw new Error(
        `Realm "${ENTERTAINMENT_REALM}" does not define "${key}".`,
      );
    }
    // resolveValue never serves a value the realm's rules refuse, so the
    // value has the shape its schema, and so EntertainmentValues, describes.
    return resolveValue(definition, this.stored)
      .value as EntertainmentValues[Name];
  }
}

/**
 * The entertainment view of a preference, or null when the preference
 * belongs to another realm: other realms have no entertainment keys.
 */
export async function loadEntertainmentView(
  context: SubgraphContext,
  ref: PreferenceRef,
): Promise<EntertainmentView | null> {
  if (ref.realm !== ENTERTAINMENT_REALM) return null;
  const realm = context.preferences.catalog.realm(ENTERTAINMENT_REALM);
  if (!realm)
    throw new Error(`Realm "${ENTERTAINMENT_REALM}" is not configured.`);
  return new EntertainmentView(realm, await loadStoredPreference(context, ref));
}

import type { DivisionView } from '@realms/platform';

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

/** One preference's sports values, resolved as fields ask for them. */
export type SportsView = DivisionView<SportsValues>;

import type { DivisionView } from '@realms/platform';

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

/** One preference's parks values, resolved as fields ask for them. */
export type ParksView = DivisionView<ParksValues>;

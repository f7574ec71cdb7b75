import type { DivisionView } from '@realms/platform';

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

/** One preference's entertainment values, resolved as fields ask. */
export type EntertainmentView = DivisionView<EntertainmentValues>;

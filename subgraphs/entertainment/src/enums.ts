import type { Genre, MaturityRating } from './title-catalogue.js';

/**
 * GraphQL enum values and the JSON strings the entertainment realm schema
 * (`schema/realms/entertainment.json`) stores for them. Clients see the
 * enum names; stored values and validation stay in the schema's words. A
 * test checks that each map covers exactly the schema's `enum`.
 */

/** `Genre` ↔ items of `entertainment.genres`. */
export const GENRES = {
  ACTION: 'action',
  ANIMATION: 'animation',
  COMEDY: 'comedy',
  DOCUMENTARY: 'documentary',
  DRAMA: 'drama',
  FAMILY: 'family',
  FANTASY: 'fantasy',
  HORROR: 'horror',
  MUSICAL: 'musical',
  ROMANCE: 'romance',
  SCI_FI: 'sci-fi',
  THRILLER: 'thriller',
} as const satisfies Record<string, Genre>;

/** `MaturityRating` ↔ values of `entertainment.maturityRating`. */
export const MATURITY_RATING_VALUES = {
  G: 'G',
  PG: 'PG',
  PG_13: 'PG-13',
  R: 'R',
} as const satisfies Record<string, MaturityRating>;

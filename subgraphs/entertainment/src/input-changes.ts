import type { DivisionInputField } from '@realms/platform';

/**
 * Every entertainment key `updateEntertainmentPreferences` can change, by
 * its place in `EntertainmentPreferencesInput` (flat today).
 */
export const ENTERTAINMENT_INPUT_FIELDS: readonly DivisionInputField[] = [
  { path: ['genres'], key: 'entertainment.genres' },
  { path: ['maturityRating'], key: 'entertainment.maturityRating' },
  { path: ['languages'], key: 'entertainment.languages' },
  { path: ['autoplay'], key: 'entertainment.autoplay' },
];

import type { DivisionInputField } from '@realms/platform';

/**
 * Every parks key `updateParksPreferences` can change, by its place in
 * `ParksPreferencesInput`. A null group (`trip: null`) resets every key in
 * it.
 */
export const PARKS_INPUT_FIELDS: readonly DivisionInputField[] = [
  { path: ['trip', 'homePark'], key: 'parks.homePark' },
  { path: ['trip', 'partySize'], key: 'parks.partySize' },
  { path: ['trip', 'travelDates'], key: 'parks.travelDates' },
  { path: ['dining', 'dietaryRestrictions'], key: 'parks.dietaryRestrictions' },
  { path: ['dining', 'plan'], key: 'parks.diningPlan' },
  {
    path: ['experience', 'accessibilityNeeds'],
    key: 'parks.accessibilityNeeds',
  },
  { path: ['experience', 'crowdTolerance'], key: 'parks.crowdTolerance' },
  { path: ['experience', 'thrillLevel'], key: 'parks.thrillLevel' },
];

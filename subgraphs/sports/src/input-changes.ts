import type { DivisionInputField } from '@realms/platform';

/**
 * Every sports key `updateSportsPreferences` can change, by its place in
 * `SportsPreferencesInput`. A null group (`gameAlerts: null`) resets every
 * key in it.
 */
export const SPORTS_INPUT_FIELDS: readonly DivisionInputField[] = [
  { path: ['gameAlerts', 'events'], key: 'sports.alertEvents' },
  { path: ['gameAlerts', 'channels'], key: 'sports.alertChannels' },
  { path: ['gameAlerts', 'quietHours'], key: 'sports.alertQuietHours' },
  { path: ['favoriteTeams'], key: 'sports.favoriteTeams' },
  { path: ['statsUpdateFrequency'], key: 'sports.statsUpdateFrequency' },
];

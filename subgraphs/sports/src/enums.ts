/**
 * GraphQL enum values and the JSON strings the sports realm schema
 * (`schema/realms/sports.json`) stores for them. Clients see the enum
 * names; stored values and validation stay in the schema's words, so the
 * subgraph can rename nothing by accident. A test checks that each map
 * covers exactly the schema's `enum`.
 */

/** `GameAlertEvent` ↔ items of `sports.alertEvents`. */
export const GAME_ALERT_EVENTS = {
  GAME_START: 'game-start',
  SCORE_CHANGE: 'score-change',
  FINAL_SCORE: 'final-score',
  LINEUP: 'lineup',
  INJURY: 'injury',
  TRADE: 'trade',
} as const;

/** `AlertChannel` ↔ items of `sports.alertChannels`. */
export const ALERT_CHANNELS = {
  PUSH: 'push',
  EMAIL: 'email',
  SMS: 'sms',
  IN_APP: 'in-app',
} as const;

/** `StatsUpdateFrequency` ↔ values of `sports.statsUpdateFrequency`. */
export const STATS_UPDATE_FREQUENCIES = {
  REALTIME: 'realtime',
  EVERY_MINUTE: 'every-minute',
  EVERY_5_MINUTES: 'every-5-minutes',
  HOURLY: 'hourly',
  OFF: 'off',
} as const;

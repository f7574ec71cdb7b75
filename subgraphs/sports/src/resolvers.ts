import { divisionResolvers, type SubgraphDefinition } from '@realms/platform';
import {
  ALERT_CHANNELS,
  GAME_ALERT_EVENTS,
  STATS_UPDATE_FREQUENCIES,
} from './enums.js';
import { SPORTS_INPUT_FIELDS } from './input-changes.js';
import {
  SPORTS_REALM,
  type SportsValues,
  type SportsView,
} from './sports-values.js';

/** The sports subgraph's resolvers. */
export const resolvers: SubgraphDefinition['resolvers'] = {
  GameAlertEvent: GAME_ALERT_EVENTS,
  AlertChannel: ALERT_CHANNELS,
  StatsUpdateFrequency: STATS_UPDATE_FREQUENCIES,

  ...divisionResolvers<SportsValues>({
    realmId: SPORTS_REALM,
    mutationName: 'updateSportsPreferences',
    fields: SPORTS_INPUT_FIELDS,
  }),

  SportsPreferences: {
    // The alert settings are three keys of the same view.
    gameAlerts: (view: SportsView) => view,
    favoriteTeams: (view: SportsView) => view.value('favoriteTeams'),
    statsUpdateFrequency: (view: SportsView) =>
      view.value('statsUpdateFrequency'),
  },

  GameAlerts: {
    events: (view: SportsView) => view.value('alertEvents'),
    channels: (view: SportsView) => view.value('alertChannels'),
    quietHours: (view: SportsView) => view.value('alertQuietHours'),
  },
};

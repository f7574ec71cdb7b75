import {
  badUserInput,
  forgetStoredPreference,
  referencedPreference,
  targetPreference,
  type PreferenceRef,
  type SubgraphContext,
  type SubgraphDefinition,
} from '@realms/platform';
import {
  ALERT_CHANNELS,
  GAME_ALERT_EVENTS,
  STATS_UPDATE_FREQUENCIES,
} from './enums.js';
import { sportsChanges } from './input-changes.js';
import {
  loadSportsView,
  SPORTS_REALM,
  type SportsView,
} from './sports-values.js';

interface UpdateSportsPreferencesArgs {
  readonly input: Readonly<Record<string, unknown>>;
  readonly expectedVersion?: number | null;
  readonly id?: string | null;
}

/**
 * Writes the sports keys named in the input, as the sports division, and
 * returns the preference for the gateway to resolve its other fields.
 */
async function updateSportsPreferences(
  _: unknown,
  args: UpdateSportsPreferencesArgs,
  context: SubgraphContext,
): Promise<PreferenceRef> {
  const target = targetPreference(context, args.id);
  assertSportsPreference(target, args.id);

  await context.preferences.write({
    realm: target.realm,
    userId: target.userId,
    changes: sportsChanges(args.input),
    expectedVersion: args.expectedVersion ?? null,
    writer: SPORTS_REALM,
    actor: context.requireIdentity().userId,
    requestId: context.requestId,
  });
  forgetStoredPreference(context, target);
  return target;
}

/**
 * Refuses a preference of another realm: it has no sports keys. Access was
 * checked first, so the refusal tells nothing the caller may not know.
 */
function assertSportsPreference(
  target: PreferenceRef,
  id: string | null | undefined,
): void {
  if (target.realm === SPORTS_REALM) return;
  throw badUserInput([
    {
      path: id === undefined || id === null ? [] : ['id'],
      key: null,
      rule: 'realm',
      message:
        `preference "${target.id}" is of realm "${target.realm}"; ` +
        `updateSportsPreferences changes ${SPORTS_REALM} preferences only`,
    },
  ]);
}

/** The sports subgraph's resolvers. */
export const resolvers: SubgraphDefinition['resolvers'] = {
  GameAlertEvent: GAME_ALERT_EVENTS,
  AlertChannel: ALERT_CHANNELS,
  StatsUpdateFrequency: STATS_UPDATE_FREQUENCIES,

  Mutation: {
    updateSportsPreferences,
  },

  Preference: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) =>
      referencedPreference(context, reference),
    sports: (ref: PreferenceRef, _: unknown, context: SubgraphContext) =>
      loadSportsView(context, ref),
  },

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

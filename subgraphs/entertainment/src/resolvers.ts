import {
  badUserInput,
  forgetStoredPreference,
  referencedPreference,
  targetPreference,
  type PreferenceRef,
  type SubgraphContext,
  type SubgraphDefinition,
} from '@realms/platform';
import { GENRES, MATURITY_RATING_VALUES } from './enums.js';
import {
  ENTERTAINMENT_REALM,
  loadEntertainmentView,
  type EntertainmentView,
} from './entertainment-values.js';
import { entertainmentChanges } from './input-changes.js';
import { recommendTitles, type Recommendation } from './recommendations.js';
import { TITLE_CATALOGUE } from './title-catalogue.js';

/** Bounds of `recommendations(limit:)`, so one query cannot ask for all. */
const MIN_RECOMMENDATIONS = 1;
const MAX_RECOMMENDATIONS = 50;

interface UpdateEntertainmentPreferencesArgs {
  readonly input: Readonly<Record<string, unknown>>;
  readonly expectedVersion?: number | null;
  readonly id?: string | null;
}

/**
 * Writes the entertainment keys named in the input, as the entertainment
 * division, and returns the preference for the gateway to resolve its
 * other fields.
 */
async function updateEntertainmentPreferences(
  _: unknown,
  args: UpdateEntertainmentPreferencesArgs,
  context: SubgraphContext,
): Promise<PreferenceRef> {
  const target = targetPreference(context, args.id);
  assertEntertainmentPreference(target, args.id);

  await context.preferences.write({
    realm: target.realm,
    userId: target.userId,
    changes: entertainmentChanges(args.input),
    expectedVersion: args.expectedVersion ?? null,
    writer: ENTERTAINMENT_REALM,
    actor: context.requireIdentity().userId,
    requestId: context.requestId,
  });
  forgetStoredPreference(context, target);
  return target;
}

/**
 * Refuses a preference of another realm: it has no entertainment keys.
 * Access was checked first, so the refusal tells nothing the caller may
 * not know.
 */
function assertEntertainmentPreference(
  target: PreferenceRef,
  id: string | null | undefined,
): void {
  if (target.realm === ENTERTAINMENT_REALM) return;
  throw badUserInput([
    {
      path: id === undefined || id === null ? [] : ['id'],
      key: null,
      rule: 'realm',
      message:
        `preference "${target.id}" is of realm "${target.realm}"; ` +
        `updateEntertainmentPreferences changes ${ENTERTAINMENT_REALM} ` +
        `preferences only`,
    },
  ]);
}

/** Recommendations from the user's effective genres, rating and languages. */
function recommendations(
  view: EntertainmentView,
  args: { readonly limit: number },
): Recommendation[] {
  if (args.limit < MIN_RECOMMENDATIONS || args.limit > MAX_RECOMMENDATIONS) {
    throw badUserInput([
      {
        path: ['limit'],
        key: null,
        rule: 'range',
        message:
          `limit must be between ${MIN_RECOMMENDATIONS} and ` +
          `${MAX_RECOMMENDATIONS}, not ${args.limit}`,
      },
    ]);
  }
  const preferences = {
    genres: view.value('genres'),
    maturityRating: view.value('maturityRating'),
    languages: view.value('languages'),
  };
  return recommendTitles(TITLE_CATALOGUE, preferences, args.limit);
}

/** The entertainment subgraph's resolvers. */
export const resolvers: SubgraphDefinition['resolvers'] = {
  Genre: GENRES,
  MaturityRating: MATURITY_RATING_VALUES,

  Mutation: {
    updateEntertainmentPreferences,
  },

  Preference: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) =>
      referencedPreference(context, reference),
    entertainment: (ref: PreferenceRef, _: unknown, context: SubgraphContext) =>
      loadEntertainmentView(context, ref),
  },

  EntertainmentPreferences: {
    genres: (view: EntertainmentView) => view.value('genres'),
    maturityRating: (view: EntertainmentView) => view.value('maturityRating'),
    languages: (view: EntertainmentView) => view.value('languages'),
    autoplay: (view: EntertainmentView) => view.value('autoplay'),
    recommendations,
  },
};

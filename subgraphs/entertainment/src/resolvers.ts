import {
  badUserInput,
  divisionResolvers,
  type SubgraphDefinition,
} from '@realms/platform';
import { GENRES, MATURITY_RATING_VALUES } from './enums.js';
import {
  ENTERTAINMENT_REALM,
  type EntertainmentValues,
  type EntertainmentView,
} from './entertainment-values.js';
import { ENTERTAINMENT_INPUT_FIELDS } from './input-changes.js';
import { recommendTitles, type Recommendation } from './recommendations.js';
import { TITLE_CATALOGUE } from './title-catalogue.js';

/** Bounds of `recommendations(limit:)`, so one query cannot ask for all. */
const MIN_RECOMMENDATIONS = 1;
const MAX_RECOMMENDATIONS = 50;

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

  ...divisionResolvers<EntertainmentValues>({
    realmId: ENTERTAINMENT_REALM,
    mutationName: 'updateEntertainmentPreferences',
    fields: ENTERTAINMENT_INPUT_FIELDS,
  }),

  EntertainmentPreferences: {
    genres: (view: EntertainmentView) => view.value('genres'),
    maturityRating: (view: EntertainmentView) => view.value('maturityRating'),
    languages: (view: EntertainmentView) => view.value('languages'),
    autoplay: (view: EntertainmentView) => view.value('autoplay'),
    recommendations,
  },
};

import { parse } from 'graphql';
import { readSubgraphSdl, type SubgraphDefinition } from '@realms/platform';
import { resolvers } from './resolvers.js';

/** The SDL (every `.graphql` file here), read once: also what `npm run compose` reads. */
export const entertainmentTypeDefsSource = readSubgraphSdl(
  new URL('./', import.meta.url),
);

/**
 * The entertainment division subgraph: adds `Preference.entertainment`
 * (genres, maturity rating, languages, autoplay, and recommendations
 * computed from them) and `updateEntertainmentPreferences`, the only way
 * to write the entertainment division keys.
 */
export const entertainmentSubgraph: SubgraphDefinition = {
  name: 'entertainment',
  typeDefs: parse(entertainmentTypeDefsSource),
  resolvers,
};

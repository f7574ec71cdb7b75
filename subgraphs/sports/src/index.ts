import { parse } from 'graphql';
import { readSubgraphSdl, type SubgraphDefinition } from '@realms/platform';
import { resolvers } from './resolvers.js';

/** The SDL (every `.graphql` file here), read once: also what `npm run compose` reads. */
export const sportsTypeDefsSource = readSubgraphSdl(
  new URL('./', import.meta.url),
);

/**
 * The sports division subgraph: adds `Preference.sports` (game alerts,
 * favourite teams, statistics updates) and `updateSportsPreferences`, the
 * only way to write the sports division keys.
 */
export const sportsSubgraph: SubgraphDefinition = {
  name: 'sports',
  typeDefs: parse(sportsTypeDefsSource),
  resolvers,
};

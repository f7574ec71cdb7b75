import { parse } from 'graphql';
import { readSubgraphSdl, type SubgraphDefinition } from '@realms/platform';
import { resolvers } from './resolvers.js';

/** The SDL (every `.graphql` file here), read once: also what `npm run compose` reads. */
export const parksTypeDefsSource = readSubgraphSdl(
  new URL('./', import.meta.url),
);

/**
 * The parks division subgraph: adds `Preference.parks` (trip planning,
 * dining, experience settings) and `updateParksPreferences`, the only way
 * to write the parks division keys.
 */
export const parksSubgraph: SubgraphDefinition = {
  name: 'parks',
  typeDefs: parse(parksTypeDefsSource),
  resolvers,
};

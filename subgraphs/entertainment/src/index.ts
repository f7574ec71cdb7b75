import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import type { SubgraphDefinition } from '@realms/platform';
import { resolvers } from './resolvers.js';

/** The SDL, read once: also the input of `npm run compose`. */
export const entertainmentTypeDefsSource = readFileSync(
  new URL('./schema.graphql', import.meta.url),
  'utf8',
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

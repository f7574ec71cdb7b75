import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import type { SubgraphDefinition } from '@realms/platform';
import { resolvers } from './resolvers.js';

/** The SDL, read once: also the input of `npm run compose`. */
export const parksTypeDefsSource = readFileSync(
  new URL('./schema.graphql', import.meta.url),
  'utf8',
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

import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import type { SubgraphDefinition } from '@realms/platform';
import { resolvers } from './resolvers.js';

/** The SDL, read once: also the input of `npm run compose`. */
export const sportsTypeDefsSource = readFileSync(
  new URL('./schema.graphql', import.meta.url),
  'utf8',
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

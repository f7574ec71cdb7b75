import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import type { SubgraphDefinition } from '@realms/platform';
import { resolvers } from './resolvers.js';

/** The SDL, read once: also the input of `npm run compose`. */
export const coreTypeDefsSource = readFileSync(
  new URL('./schema.graphql', import.meta.url),
  'utf8',
);

/**
 * The core subgraph: owns the Preference entity, realms, the preference
 * definitions, and the generic writes of global and realm custom keys.
 */
export const coreSubgraph: SubgraphDefinition = {
  name: 'core',
  typeDefs: parse(coreTypeDefsSource),
  resolvers,
};

import { parse } from 'graphql';
import { readSubgraphSdl, type SubgraphDefinition } from '@realms/platform';
import { resolvers } from './resolvers.js';

/** The SDL (every `.graphql` file here), read once: also what `npm run compose` reads. */
export const coreTypeDefsSource = readSubgraphSdl(
  new URL('./', import.meta.url),
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

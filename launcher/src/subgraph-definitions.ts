import type { SubgraphName } from '@realms/gateway';
import type { SubgraphDefinition } from '@realms/platform';
import { coreSubgraph } from '@realms/core-subgraph';
import { sportsSubgraph } from '@realms/sports-subgraph';
import { entertainmentSubgraph } from '@realms/entertainment-subgraph';
import { parksSubgraph } from '@realms/parks-subgraph';

/** Every subgraph of the supergraph, by its name there. */
export const SUBGRAPH_DEFINITIONS: Readonly<
  Record<SubgraphName, SubgraphDefinition>
> = {
  core: coreSubgraph,
  sports: sportsSubgraph,
  entertainment: entertainmentSubgraph,
  parks: parksSubgraph,
};

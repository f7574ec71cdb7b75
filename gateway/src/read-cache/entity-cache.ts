import { createHash } from 'node:crypto';
import { Kind, OperationTypeNode, parse } from 'graphql';
import { parsePreferenceId } from '@realms/platform';
import type { GatewayContext } from '../gateway-server.js';
import type { ResponseCache } from './response-cache.js';

/** What an entity fetch is cached under, and what it depends on. */
export interface EntityFetchPlan {
  readonly key: string;
  readonly dependsOn: readonly string[];
  readonly snapshot: string;
}

/**
 * Whether a subgraph fetch may be answered from the entity cache, and
 * under which key.
 *
 * The read cache keys whole responses, so the same user asking for
 * another list of keys misses it, and the gateway fetches their division
 * fields again although they did not change: a division's `_entities`
 * fetch depends on the preference it names, not on the rest of the
 * client's operation. This cache keeps those fetches, so such a miss
 * costs the core fetch only.
 *
 * Cached: a query whose only root field is `_entities`, for exactly one
 * `Preference` of the request's realm — the shape of every per-user
 * read. Fetches of many entities at once (an admin's list) are not: they
 * differ with every page, each answer is as large as the page, and one
 * change would drop the whole entry.
 *
 * The key holds everything the answer may depend on besides the stored
 * preference: the subgraph, the caller's realm, user and roles (a
 * division checks who may read), the configuration version, and the fetch
 * as sent. The preference id is in `dependsOn`, so its change events and
 * the caller's own writes drop the entry, and the snapshot keeps a fetch
 * that raced a write from storing the old value (see ResponseCache).
 */
export function entityFetchPlan(
  subgraph: string,
  request: {
    readonly query?: string | undefined;
    readonly variables?: Record<string, unknown> | undefined;
  },
  context: GatewayContext,
  version: number,
  cache: ResponseCache,
): EntityFetchPlan | null {
  const realm = context.realm?.id;
  if (!realm || !request.query || !isEntitiesQuery(request.query)) return null;

  const representations = request.variables?.['representations'];
  if (!Array.isArray(representations) || representations.length !== 1)
    return null;
  const [representation] = representations as unknown[];
  const id = preferenceRepresentationId(representation);
  const parsed = id ? parsePreferenceId(id) : null;
  if (!id || !parsed || parsed.realm !== realm) return null;

  const identity = context.identity;
  const key = createHash('sha256')
    .update(
      JSON.stringify([
        subgraph,
        realm,
        identity?.userId ?? null,
        identity ? [...identity.roles].sort() : null,
        version,
        request.query,
        request.variables,
      ]),
    )
    .digest('base64url');
  const dependsOn = [id];
  return { key, dependsOn, snapshot: cache.snapshot(dependsOn) };
}

/**
 * Fetch queries come from query plans, so there are few distinct ones:
 * each is parsed once. (The plan's own document is not handed to data
 * sources unless the planner keeps a copy of every fetch's AST.)
 */
const entitiesQueries = new Map<string, boolean>();
const MAX_REMEMBERED_QUERIES = 1_000;

function isEntitiesQuery(query: string): boolean {
  let known = entitiesQueries.get(query);
  if (known === undefined) {
    known = parsesAsEntitiesQuery(query);
    if (entitiesQueries.size >= MAX_REMEMBERED_QUERIES) entitiesQueries.clear();
    entitiesQueries.set(query, known);
  }
  return known;
}

function parsesAsEntitiesQuery(query: string): boolean {
  let document;
  try {
    document = parse(query, { noLocation: true });
  } catch {
    return false;
  }
  if (document.definitions.length !== 1) return false;
  const [operation] = document.definitions;
  if (
    operation?.kind !== Kind.OPERATION_DEFINITION ||
    operation.operation !== OperationTypeNode.QUERY
  )
    return false;
  const roots = operation.selectionSet.selections;
  return (
    roots.length === 1 &&
    roots[0]?.kind === Kind.FIELD &&
    roots[0].name.value === '_entities' &&
    !roots[0].alias
  );
}

/** The id of a `{ __typename: "Preference", id }` representation. */
function preferenceRepresentationId(representation: unknown): string | null {
  if (typeof representation !== 'object' || representation === null)
    return null;
  const fields = representation as Record<string, unknown>;
  if (Object.keys(fields).length !== 2) return null;
  return fields['__typename'] === 'Preference' &&
    typeof fields['id'] === 'string'
    ? fields['id']
    : null;
}

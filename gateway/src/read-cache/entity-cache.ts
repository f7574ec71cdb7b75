import { hash } from 'node:crypto';
import { Kind, OperationTypeNode, parse, type SelectionSetNode } from 'graphql';
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
  const shape = request.query ? entitiesQueryShape(request.query) : null;
  if (!realm || !shape) return null;

  const representations = request.variables?.['representations'];
  if (!Array.isArray(representations) || representations.length !== 1)
    return null;
  const [representation] = representations as unknown[];
  const id = preferenceRepresentationId(representation);
  const parsed = id ? parsePreferenceId(id) : null;
  if (!id || !parsed || parsed.realm !== realm) return null;

  const identity = context.identity;
  const key = hash(
    'sha256',
    JSON.stringify([
      subgraph,
      realm,
      identity?.userId ?? null,
      identity ? [...identity.roles].sort() : null,
      version,
      request.query,
      request.variables,
    ]),
    'base64url',
  );
  const dependsOn = [
    shape.divisionField === null
      ? id
      : divisionDependency(id, shape.divisionField),
  ];
  return { key, dependsOn, snapshot: cache.snapshot(dependsOn) };
}

/**
 * What an entity fetch that asks only for one division's own field (such
 * as `... on Preference { sports { ... } }`) depends on: the preference's
 * keys of that division, not the whole preference. A division's field
 * resolves from its `<division>.*` keys alone (division-kit.ts), and no
 * other writer may write those keys (the preference service refuses
 * another owner), so a change that names none of them, a user changing
 * their display name say, leaves the entry valid. See
 * ReadCaches.invalidate, which drops these only for such keys.
 */
export function divisionDependency(
  preferenceId: string,
  division: string,
): string {
  return `${preferenceId}\n${division}`;
}

/**
 * The shape of an `_entities` query: `divisionField` is the one field it
 * asks of `Preference` (besides `__typename`), or null when it asks for
 * more or other things.
 */
interface EntitiesShape {
  readonly divisionField: string | null;
}

/**
 * Fetch queries come from query plans, so there are few distinct ones:
 * each is parsed once. (The plan's own document is not handed to data
 * sources unless the planner keeps a copy of every fetch's AST.)
 */
const shapes = new Map<string, EntitiesShape | null>();
const MAX_REMEMBERED_QUERIES = 1_000;

function entitiesQueryShape(query: string): EntitiesShape | null {
  let shape = shapes.get(query);
  if (shape === undefined) {
    shape = parseEntitiesShape(query);
    if (shapes.size >= MAX_REMEMBERED_QUERIES) shapes.clear();
    shapes.set(query, shape);
  }
  return shape;
}

function parseEntitiesShape(query: string): EntitiesShape | null {
  let document;
  try {
    document = parse(query, { noLocation: true });
  } catch {
    return null;
  }
  if (document.definitions.length !== 1) return null;
  const [operation] = document.definitions;
  if (
    operation?.kind !== Kind.OPERATION_DEFINITION ||
    operation.operation !== OperationTypeNode.QUERY
  )
    return null;
  const roots = operation.selectionSet.selections;
  const root = roots[0];
  if (
    roots.length !== 1 ||
    root?.kind !== Kind.FIELD ||
    root.name.value !== '_entities' ||
    root.alias
  )
    return null;
  return { divisionField: onlyPreferenceField(root.selectionSet) };
}

/**
 * The single field an `_entities` selection asks of `Preference`, when
 * that is all it asks (inline fragments on Preference, `__typename`
 * anywhere); null otherwise: then any change of the preference counts.
 */
function onlyPreferenceField(
  selectionSet: SelectionSetNode | undefined,
): string | null {
  const fields = new Set<string>();
  const visit = (set: SelectionSetNode, onPreference: boolean): boolean => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value === '__typename') continue;
        if (!onPreference || selection.directives?.length) return false;
        fields.add(selection.name.value);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (selection.directives?.length) return false;
        const type = selection.typeCondition?.name.value;
        if (type !== undefined && type !== 'Preference') return false;
        if (!visit(selection.selectionSet, true)) return false;
      } else {
        return false;
      }
    }
    return true;
  };
  if (!selectionSet || !visit(selectionSet, false) || fields.size !== 1)
    return null;
  return [...fields][0] ?? null;
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

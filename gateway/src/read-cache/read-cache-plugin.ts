import { hash } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
import {
  Kind,
  OperationTypeNode,
  type FieldNode,
  type OperationDefinitionNode,
  type ValueNode,
} from 'graphql';
import { parsePreferenceId, preferenceId } from '@realms/platform';
import type { GatewayContext } from '../gateway-server.js';
import type { ReadCaches } from './read-cache.js';
import type { ResponseCache } from './response-cache.js';

/**
 * Root fields whose answer depends only on the caller, the preferences it
 * names, and the configuration: safe to cache and to invalidate by change
 * events. Any other root field makes the operation uncached.
 */
const CACHEABLE_ROOT_FIELDS = new Set([
  'myPreferences',
  'preference',
  'currentRealm',
  'realms',
  'globalDefinitions',
  'realmDefinitions',
  '__typename',
]);

/** What a cacheable read was keyed by and depends on. */
interface CachePlan {
  readonly key: string;
  readonly dependsOn: readonly string[];
  readonly snapshot: string;
}

/**
 * Serves repeated preference reads from the gateway's response cache, and
 * drops a user's entries in both read caches as soon as a mutation of
 * theirs passes through (so their next read is fresh even before the
 * change event arrives).
 * Keys hold everything that can change an answer: realm, user, roles,
 * configuration version, operation and variables. Nothing is shared
 * across users or realms.
 */
export function readCachePlugin(
  caches: ReadCaches,
  config: {
    version: () => number;
    realmIds: () => readonly string[];
    /** Told whether each cacheable read was a hit, for the hit ratio. */
    onLookup?: (result: 'hit' | 'miss') => void;
  },
): ApolloServerPlugin<GatewayContext> {
  const cache = caches.responses;
  return {
    async requestDidStart() {
      let plan: CachePlan | null = null;
      return {
        async responseForOperation({ operation, request, contextValue }) {
          if (
            !contextValue.realm ||
            operation.operation !== OperationTypeNode.QUERY
          )
            return null;
          plan = planRead(
            operation,
            request,
            contextValue,
            config.version(),
            cache,
          );
          if (!plan) return null;
          const cached = cache.get(plan.key);
          config.onLookup?.(cached ? 'hit' : 'miss');
          if (!cached) return null;
          return {
            http: { status: 200, headers: new Map() as never },
            body: { kind: 'single', singleResult: cached },
          };
        },

        async willSendResponse({ response, contextValue, operation, request }) {
          if (operation?.operation === OperationTypeNode.MUTATION) {
            invalidateWriters(
              caches,
              contextValue,
              operation,
              request.variables ?? {},
              config.realmIds(),
            );
            return;
          }
          if (!plan || response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          if (result.errors && result.errors.length > 0) return;
          cache.set(
            plan.key,
            result,
            plan.dependsOn,
            plan.snapshot,
            Date.now(),
            operation?.name?.value ?? null,
          );
        },
      };
    },
  };
}

function planRead(
  operation: OperationDefinitionNode,
  request: {
    query?: string | undefined;
    operationName?: string | undefined;
    variables?: Record<string, unknown> | undefined;
  },
  context: GatewayContext,
  version: number,
  cache: ResponseCache,
): CachePlan | null {
  const variables = request.variables ?? {};
  const realm = context.realm?.id ?? '';
  const dependsOn: string[] = [];
  for (const selection of operation.selectionSet.selections) {
    if (
      selection.kind !== Kind.FIELD ||
      !CACHEABLE_ROOT_FIELDS.has(selection.name.value)
    )
      return null;
    if (selection.name.value === 'myPreferences') {
      if (!context.identity) return null;
      dependsOn.push(preferenceId(realm, context.identity.userId));
    } else if (selection.name.value === 'preference') {
      const id = argumentString(selection, 'id', variables);
      if (!id || !parsePreferenceId(id)) return null;
      dependsOn.push(id);
    }
  }
  const key = readCacheKey(context, version, request);
  return { key, dependsOn, snapshot: cache.snapshot(dependsOn) };
}

/**
 * The key of a read: everything that can change its answer. It is made
 * of the request as sent (query text, operation name and variables as
 * the client wrote them, not as parsed), so that a repeated request can
 * be looked up before it is parsed at all (see read-shortcut.ts). A
 * different spelling of the same query is a different key: a miss, never
 * a wrong answer.
 */
export function readCacheKey(
  context: Pick<GatewayContext, 'realm' | 'identity'>,
  version: number,
  request: {
    query?: string | undefined;
    operationName?: string | undefined;
    variables?: Record<string, unknown> | undefined;
  },
): string {
  const identity = context.identity;
  return hash(
    'sha256',
    JSON.stringify([
      context.realm?.id ?? '',
      identity?.userId ?? null,
      identity ? [...identity.roles].sort() : null,
      version,
      request.query ?? '',
      request.operationName ?? null,
      request.variables ?? {},
    ]),
    'base64url',
  );
}

/**
 * Core mutations that write values through the preference service as the
 * core writer: they cannot change a division's keys (the service refuses
 * a key of another owner), so a division's entity entries survive them.
 */
const CORE_VALUE_MUTATIONS = new Set(['setPreferences', 'resetPreferences']);

/**
 * A mutation may change the caller's preference (in every realm, for a
 * user-global key) or, for an admin, the preference its `id` names.
 */
function invalidateWriters(
  cache: ReadCaches,
  context: GatewayContext,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
  realmIds: readonly string[],
): void {
  const users = new Set<string>();
  if (context.identity) users.add(context.identity.userId);
  let divisionKeysUnchanged = true;
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind !== Kind.FIELD) {
      divisionKeysUnchanged = false;
      continue;
    }
    if (!CORE_VALUE_MUTATIONS.has(selection.name.value))
      divisionKeysUnchanged = false;
    const id = argumentString(selection, 'id', variables);
    const parsed = id ? parsePreferenceId(id) : null;
    if (parsed) users.add(parsed.userId);
  }
  // Which keys changed is not known here (the change event will say):
  // none of a division's, when only core value mutations ran.
  const changedKeys = divisionKeysUnchanged ? [] : undefined;
  for (const user of users) {
    for (const realm of realmIds)
      cache.invalidate(preferenceId(realm, user), changedKeys);
  }
}

function argumentString(
  field: FieldNode,
  name: string,
  variables: Record<string, unknown>,
): string | null {
  const argument = field.arguments?.find((a) => a.name.value === name);
  if (!argument) return null;
  const value = literal(argument.value, variables);
  return typeof value === 'string' ? value : null;
}

function literal(node: ValueNode, variables: Record<string, unknown>): unknown {
  if (node.kind === Kind.VARIABLE) return variables[node.name.value];
  if (node.kind === Kind.STRING) return node.value;
  return null;
}

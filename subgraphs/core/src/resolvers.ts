import {
  effectiveValues,
  rememberWrittenPreference,
  administeredRealm,
  badUserInput,
  preferenceRef,
  loadStoredPreference,
  preferenceVersion,
  readAuditLog,
  referencedPreference,
  RESET,
  targetPreference,
  mayWriteUserGlobalLayer,
  type AuditLogArgs,
  type AuditRecord,
  type KeyChange,
  type PreferenceDefinition,
  type PreferenceRef,
  type PreferenceScope,
  type RealmConfig,
  type SubgraphContext,
  type SubgraphDefinition,
} from '@realms/platform';
import { JSONScalar } from './json-scalar.js';
import {
  adminConfigMutation,
  adminConfigQuery,
  adminConfigTypes,
} from './admin-config/resolvers.js';
import {
  adminUsersMutation,
  adminUsersQuery,
  adminUsersTypes,
} from './admin-users/resolvers.js';

interface PreferenceValueInput {
  key: string;
  value?: unknown;
  scope?: PreferenceScope | null;
}

/** The JSON type named by a definition's rules, for schema designers. */
function jsonType(definition: PreferenceDefinition): string {
  const type = definition.rules['type'];
  if (Array.isArray(type)) return type.join(' | ');
  return typeof type === 'string' ? type : 'any';
}

function realmOf(context: SubgraphContext, id: string): RealmConfig {
  return context.preferences.realm(id);
}

async function storeChanges(
  context: SubgraphContext,
  target: PreferenceRef,
  changes: KeyChange[],
  expectedVersion: number | null | undefined,
): Promise<PreferenceRef> {
  const identity = context.requireIdentity();
  const stored = await context.preferences.write({
    realm: target.realm,
    userId: target.userId,
    changes,
    expectedVersion: expectedVersion ?? null,
    writer: null,
    globalLayerWritable: mayWriteUserGlobalLayer(identity, target.userId),
    actor: identity.userId,
    requestId: context.requestId,
  });
  rememberWrittenPreference(context, target, stored);
  return target;
}

interface RealmPreferencesArgs {
  realm?: string | null;
  first?: number | null;
  after?: string | null;
}

/** The most preferences one page lists. */
const MAX_PAGE_SIZE = 200;

async function listRealmPreferences(
  context: SubgraphContext,
  args: RealmPreferencesArgs,
) {
  const realm = administeredRealm(context, args.realm);
  const first = args.first ?? 50;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw badUserInput([
      {
        path: ['first'],
        key: null,
        rule: 'range',
        message: `"first" must be 1..${MAX_PAGE_SIZE}`,
      },
    ]);
  }
  const page = await context.preferences.listUsers(realm, {
    after: args.after ?? null,
    limit: first,
  });
  return {
    items: page.userIds.map((userId) => preferenceRef(realm, userId)),
    nextCursor: page.nextCursor,
  };
}

export const resolvers: SubgraphDefinition['resolvers'] = {
  JSON: JSONScalar,

  Query: {
    myPreferences: (_: unknown, __: unknown, context: SubgraphContext) =>
      targetPreference(context),
    preference: (_: unknown, args: { id: string }, context: SubgraphContext) =>
      targetPreference(context, args.id),
    currentRealm: (_: unknown, __: unknown, context: SubgraphContext) =>
      realmOf(context, context.forwarded.realm),
    realms: (_: unknown, __: unknown, context: SubgraphContext) => [
      ...context.preferences.catalog.realms.values(),
    ],
    globalDefinitions: (_: unknown, __: unknown, context: SubgraphContext) => [
      ...context.preferences.catalog.globalDefinitions.values(),
    ],
    realmDefinitions: (
      _: unknown,
      args: { realm?: string | null },
      context: SubgraphContext,
    ) => [
      ...realmOf(
        context,
        args.realm ?? context.forwarded.realm,
      ).definitions.values(),
    ],
    auditLog: (_: unknown, args: AuditLogArgs, context: SubgraphContext) =>
      readAuditLog(context, args),
    realmPreferences: (
      _: unknown,
      args: RealmPreferencesArgs,
      context: SubgraphContext,
    ) => listRealmPreferences(context, args),
    ...adminConfigQuery,
    ...adminUsersQuery,
  },

  AuditEntry: {
    realmId: (record: AuditRecord) => record.realm,
  },

  Mutation: {
    setPreferences: (
      _: unknown,
      args: {
        values: PreferenceValueInput[];
        expectedVersion?: number | null;
        id?: string | null;
      },
      context: SubgraphContext,
    ) => {
      const target = targetPreference(context, args.id);
      const changes = args.values.map((input, i) => ({
        key: input.key,
        value: input.value ?? null,
        scope: input.scope ?? null,
        path: ['values', i],
      }));
      return storeChanges(context, target, changes, args.expectedVersion);
    },
    resetPreferences: (
      _: unknown,
      args: {
        keys: string[];
        scope?: PreferenceScope | null;
        expectedVersion?: number | null;
        id?: string | null;
      },
      context: SubgraphContext,
    ) => {
      const target = targetPreference(context, args.id);
      const changes = args.keys.map((key, i) => ({
        key,
        value: RESET,
        scope: args.scope ?? null,
        path: ['keys', i],
      }));
      return storeChanges(context, target, changes, args.expectedVersion);
    },
    ...adminConfigMutation,
    ...adminUsersMutation,
  },

  ...adminConfigTypes,
  ...adminUsersTypes,

  Preference: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) =>
      referencedPreference(context, reference),
    realm: (ref: PreferenceRef, _: unknown, context: SubgraphContext) =>
      realmOf(context, ref.realm),
    version: async (ref: PreferenceRef, _: unknown, context: SubgraphContext) =>
      preferenceVersion(await loadStoredPreference(context, ref)),
    updatedAt: async (
      ref: PreferenceRef,
      _: unknown,
      context: SubgraphContext,
    ) => {
      const stored = await loadStoredPreference(context, ref);
      const times = [stored.realmLayer.updatedAt, stored.globalLayer.updatedAt];
      const written = times.filter((t): t is string => t !== null).sort();
      return written.at(-1) ?? null;
    },
    values: async (
      ref: PreferenceRef,
      args: { keys?: string[] | null },
      context: SubgraphContext,
    ) => {
      const stored = await loadStoredPreference(context, ref);
      return effectiveValues(
        realmOf(context, ref.realm),
        stored,
        args.keys ?? undefined,
      );
    },
  },

  Realm: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) =>
      context.preferences.catalog.realm(reference.id) ?? null,
    definitions: (realm: RealmConfig) => [...realm.definitions.values()],
  },

  PreferenceDefinition: {
    type: jsonType,
    default: (definition: PreferenceDefinition) => definition.defaultValue,
  },
};

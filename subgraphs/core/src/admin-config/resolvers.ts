import {
  administeredRealm,
  badUserInput,
  errorCodeOf,
  forbidden,
  MAX_LISTED_DIFFERENCES,
  refusalOutcome,
  type AuditChange,
  type ConfigAdmin,
  type ConfigChangeResult,
  type ConfigDifference,
  type ConfigVersionSummary,
  type Identity,
  type MigrationDeclaration,
  type MigrationTransform,
  type RealmConfigEdit,
  type SubgraphContext,
  type SubgraphDefinition,
} from '@realms/platform';

/*
 * The configuration admin API: read a realm's editable configuration, the
 * version history and diffs; change a realm, the global schema, or roll
 * back. The rules of a change live in ConfigAdmin (platform); here are
 * who may do what, and the audit record of every change, accepted or not.
 */

interface MigrationInput {
  key: string;
  transform: MigrationTransform;
  from?: string | null;
  value?: unknown;
  mapping?: unknown;
}

interface ChangeArgs {
  expectedVersion?: number | null;
  comment?: string | null;
  migrations?: MigrationInput[] | null;
}

/** The most versions one page lists. */
const MAX_VERSIONS_PAGE = 50;

function configuration(context: SubgraphContext): ConfigAdmin {
  if (!context.configuration)
    throw new Error('The configuration admin is not available here');
  return context.configuration;
}

function isPlatformAdmin(identity: Identity): boolean {
  return identity.roles.includes('platform-admin');
}

/** Platform admins see everything; realm admins their realm; others nothing. */
function viewerRealm(context: SubgraphContext): string | null {
  const identity = context.requireIdentity();
  if (isPlatformAdmin(identity)) return null;
  if (identity.roles.includes('realm-admin')) return identity.realm;
  throw forbidden();
}

function requirePlatformAdmin(context: SubgraphContext): Identity {
  const identity = context.requireIdentity();
  if (!isPlatformAdmin(identity)) throw forbidden();
  return identity;
}

function declarations(
  inputs: MigrationInput[] | null | undefined,
): MigrationDeclaration[] {
  return (inputs ?? []).map((input) => ({
    key: input.key,
    transform: input.transform,
    from: input.from ?? null,
    value: input.value ?? null,
    mapping: isObject(input.mapping) ? input.mapping : null,
  }));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A page size in 1..max, or BAD_USER_INPUT. */
function pageSize(first: number | null | undefined, max: number): number {
  const size = first ?? 20;
  if (!Number.isInteger(size) || size < 1 || size > max) {
    throw badUserInput([
      {
        path: ['first'],
        key: null,
        rule: 'range',
        message: `"first" must be 1..${max}`,
      },
    ]);
  }
  return size;
}

/** What a realm's audit log may show of a change: its own and shared parts. */
function auditChanges(
  differences: readonly ConfigDifference[],
  realm: string,
): AuditChange[] {
  return differences
    .filter(
      (d) =>
        !d.path.startsWith('realms/') || d.path.startsWith(`realms/${realm}:`),
    )
    .slice(0, MAX_LISTED_DIFFERENCES)
    .map((d) => ({
      key: d.path,
      layer: d.path.startsWith('realms/') ? 'REALM' : 'GLOBAL',
      before: d.before ?? null,
      after: d.after ?? null,
    }));
}

/**
 * Runs one configuration change and records it in the audit log. An
 * accepted change goes to the log of every realm it changed, with the
 * differences that realm may see. A refusal goes to the target realm's log
 * once access was granted, else to the request's realm with nothing but
 * the target named (like a refused preference write).
 */
async function auditedChange(
  context: SubgraphContext,
  target: string,
  change: () => {
    realm: string | null;
    run: () => Promise<ConfigChangeResult>;
  },
): Promise<ConfigChangeResult> {
  const identity = context.requireIdentity();
  const entry = {
    actor: identity.userId,
    actorRoles: [...identity.roles],
    requestId: context.requestId,
    clientAddress: context.forwarded.clientAddress ?? null,
  };
  let grantedRealm: string | null = null;
  try {
    const { realm, run } = change();
    grantedRealm = realm ?? context.forwarded.realm;
    const result = await run();
    const realms =
      result.event.realms.length > 0 ? result.event.realms : [grantedRealm];
    for (const logRealm of realms) {
      await context.preferences.recordAudit({
        ...entry,
        realm: logRealm,
        target,
        outcome: 'ACCEPTED',
        changes: auditChanges(result.differences, logRealm),
        errorCode: null,
      });
    }
    return result;
  } catch (error) {
    const outcome = refusalOutcome(error);
    if (outcome !== null) {
      await context.preferences.recordAudit({
        ...entry,
        realm: grantedRealm ?? context.forwarded.realm,
        target,
        outcome,
        changes: [],
        errorCode: errorCodeOf(error),
      });
    }
    throw error;
  }
}

function changeAnswer(result: ConfigChangeResult) {
  return {
    version: { ...result.version, realms: result.event.realms },
    changes: result.differences.slice(0, MAX_LISTED_DIFFERENCES),
  };
}

/** Query fields, spread into the core subgraph's `Query`. */
export const adminConfigQuery = {
  realmConfig: (
    _: unknown,
    args: { realm?: string | null },
    context: SubgraphContext,
  ) =>
    configuration(context).realmConfig(administeredRealm(context, args.realm)),
  configVersions: (
    _: unknown,
    args: { first?: number | null; before?: number | null },
    context: SubgraphContext,
  ) => {
    const realm = viewerRealm(context);
    return configuration(context).versions(
      pageSize(args.first, MAX_VERSIONS_PAGE),
      args.before ?? null,
      realm,
    );
  },
  configDiff: (
    _: unknown,
    args: { from: number; to: number },
    context: SubgraphContext,
  ) => configuration(context).diff(args.from, args.to, viewerRealm(context)),
} satisfies Record<string, unknown>;

/** Mutation fields, spread into the core subgraph's `Mutation`. */
export const adminConfigMutation = {
  updateRealmConfig: async (
    _: unknown,
    args: ChangeArgs & { realm?: string | null; input: RealmConfigEdit },
    context: SubgraphContext,
  ) => {
    const requested = args.realm ?? context.forwarded.realm;
    const result = await auditedChange(context, `config:${requested}`, () => {
      const realm = administeredRealm(context, args.realm);
      return {
        realm,
        run: () =>
          configuration(context).updateRealm(realm, args.input, {
            actor: context.requireIdentity().userId,
            comment: args.comment ?? null,
            expectedVersion: args.expectedVersion ?? null,
            migrations: declarations(args.migrations),
          }),
      };
    });
    return changeAnswer(result);
  },
  updateGlobalSchema: async (
    _: unknown,
    args: ChangeArgs & { input: unknown },
    context: SubgraphContext,
  ) => {
    const result = await auditedChange(context, 'config:global', () => {
      const identity = requirePlatformAdmin(context);
      if (!isObject(args.input)) {
        throw badUserInput([
          {
            path: ['input'],
            key: null,
            rule: 'type',
            message: 'the global schema must be a JSON object',
          },
        ]);
      }
      const global = args.input;
      return {
        realm: null,
        run: () =>
          configuration(context).updateGlobal(global, {
            actor: identity.userId,
            comment: args.comment ?? null,
            expectedVersion: args.expectedVersion ?? null,
            migrations: declarations(args.migrations),
          }),
      };
    });
    return changeAnswer(result);
  },
  rollbackConfig: async (
    _: unknown,
    args: { version: number; comment?: string | null },
    context: SubgraphContext,
  ) => {
    const result = await auditedChange(context, 'config:global', () => {
      const identity = requirePlatformAdmin(context);
      return {
        realm: null,
        run: () =>
          configuration(context).rollback(args.version, {
            actor: identity.userId,
            comment: args.comment ?? null,
          }),
      };
    });
    return changeAnswer(result);
  },
} satisfies Record<string, unknown>;

/** Types of the admin API, spread into the core subgraph's resolvers. */
export const adminConfigTypes: SubgraphDefinition['resolvers'] = {
  ConfigVersion: {
    realmIds: (
      version: ConfigVersionSummary & { realms?: readonly string[] },
    ) => version.realms ?? [],
  },

  RealmConfiguration: {
    realmId: (config: { realm: string }) => config.realm,
  },
};

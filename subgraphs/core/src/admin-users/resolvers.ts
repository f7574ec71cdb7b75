import {
  administeredRealm,
  badUserInput,
  effectiveValues,
  errorCodeOf,
  parsePreferenceId,
  preferenceId,
  preferenceRef,
  refusalOutcome,
  type AdminAuditInput,
  type EffectiveValue,
  type PreferenceRef,
  type PreferenceSource,
  type GrantableRole,
  type Identity,
  type RealmOverview,
  type SubgraphContext,
  type SubgraphDefinition,
  type UsageDay,
  type UserAccess,
  type UserAccessChange,
  type UserAdmin,
} from '@realms/platform';

/*
 * The user-management and visibility part of the admin API: the realm
 * overview, preference search, a realm's users, access (disable, enable,
 * grant, revoke), erasure and usage. The rules of storing live in
 * UserAdmin and the stores (platform); here are who may do what, and the
 * audit record of every refusal (an accepted change is recorded by the
 * store, atomically with it).
 */

/** Most users one search page reads, whatever it finds. */
const MAX_SCANNED_PER_PAGE = 1_000;
/** Users read per store round trip while searching. */
const SEARCH_BATCH_SIZE = 200;
const MAX_SEARCH_PAGE = 100;
const MAX_USERS_PAGE = 200;
const MAX_USAGE_DAYS = 35;
const MAX_TOP_KEYS = 50;
/** Longest user id an admin operation accepts. */
const MAX_USER_ID_LENGTH = 256;

function userAdmin(context: SubgraphContext): UserAdmin {
  if (!context.userAdmin)
    throw new Error('The user admin is not available here');
  return context.userAdmin;
}

/** A number argument in 1..max (or its default), or BAD_USER_INPUT. */
function bounded(
  name: string,
  value: number | null | undefined,
  fallback: number,
  max: number,
): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw badUserInput([
      {
        path: [name],
        key: null,
        rule: 'range',
        message: `"${name}" must be 1..${max}`,
      },
    ]);
  }
  return n;
}

function checkedUserId(userId: string): string {
  if (userId.length === 0 || userId.length > MAX_USER_ID_LENGTH) {
    throw badUserInput([
      {
        path: ['userId'],
        key: null,
        rule: 'length',
        message: `"userId" must be 1..${MAX_USER_ID_LENGTH} characters`,
      },
    ]);
  }
  return userId;
}

/**
 * The realms a caller sees across: platform admins every realm (or the
 * one named: NOT_FOUND if it does not exist), realm admins their own
 * (FORBIDDEN for any other), anyone else nothing.
 */
function viewedRealms(
  context: SubgraphContext,
  requested: string | null | undefined,
): string[] {
  const identity = context.requireIdentity();
  if (identity.roles.includes('platform-admin') && requested == null) {
    return [...context.preferences.catalog.realmIds];
  }
  return [administeredRealm(context, requested)];
}

function auditInput(
  context: SubgraphContext,
  identity: Identity,
  realm: string,
  target: string,
): AdminAuditInput {
  return {
    realm,
    actor: identity.userId,
    actorRoles: [...identity.roles],
    target,
    outcome: 'ACCEPTED',
    requestId: context.requestId,
    clientAddress: context.forwarded.clientAddress ?? null,
    errorCode: null,
  };
}

/**
 * Runs one user-management change. A refusal goes to the audit log: of
 * the target realm once access to it was granted, else of the request's
 * realm with only the asked-for target named (like a refused write).
 */
async function auditedUserChange<T>(
  context: SubgraphContext,
  args: { realm?: string | null; userId: string },
  run: (realm: string, identity: Identity, audit: AdminAuditInput) => T,
): Promise<Awaited<T>> {
  const identity = context.requireIdentity();
  const requested = args.realm ?? context.forwarded.realm;
  const target = preferenceId(requested, args.userId);
  let grantedRealm: string | null = null;
  try {
    const realm = administeredRealm(context, args.realm);
    grantedRealm = realm;
    checkedUserId(args.userId);
    return await run(
      realm,
      identity,
      auditInput(context, identity, realm, target),
    );
  } catch (error) {
    const outcome = refusalOutcome(error);
    if (outcome !== null) {
      await context.preferences.recordAudit({
        ...auditInput(
          context,
          identity,
          grantedRealm ?? context.forwarded.realm,
          target,
        ),
        outcome,
        changes: [],
        errorCode: errorCodeOf(error),
      });
    }
    throw error;
  }
}

/** Nobody changes their own access: an admin could lock themselves out. */
function refuseSelf(identity: Identity, userId: string, what: string): void {
  if (identity.userId !== userId) return;
  throw badUserInput([
    {
      path: ['userId'],
      key: null,
      rule: 'self',
      message: `you cannot ${what} yourself`,
    },
  ]);
}

function accessChange(
  context: SubgraphContext,
  args: { realm?: string | null; userId: string },
  change: UserAccessChange,
  self: string | null,
) {
  return auditedUserChange(context, args, async (realm, identity, audit) => {
    if (self !== null) refuseSelf(identity, args.userId, self);
    const access = await userAdmin(context).updateAccess(
      realm,
      args.userId,
      change,
      audit,
    );
    return { ...access, realm, userId: args.userId };
  });
}

interface SearchArgs {
  key: string;
  value?: unknown;
  realm?: string | null;
  first?: number | null;
  after?: string | null;
}

interface PreferenceMatchResult {
  readonly ref: PreferenceRef;
  readonly value: unknown;
  readonly source: PreferenceSource;
}

/**
 * Whether an effective value matches what the search asks for: equal
 * JSON, or a list holding it; without a value, one the user set.
 */
function matches(
  { value, source }: EffectiveValue,
  wanted: unknown,
  hasWanted: boolean,
): boolean {
  if (!hasWanted) return source === 'USER_REALM' || source === 'USER_GLOBAL';
  const json = JSON.stringify(wanted);
  if (JSON.stringify(value) === json) return true;
  return Array.isArray(value) && value.some((v) => JSON.stringify(v) === json);
}

/** Where a search page starts: a realm and the user after which to go on. */
function searchStart(
  realms: readonly string[],
  after: string | null | undefined,
): { index: number; afterUser: string | null } {
  if (after == null) return { index: 0, afterUser: null };
  const parsed = parsePreferenceId(after);
  const index = parsed ? realms.indexOf(parsed.realm) : -1;
  if (!parsed || index < 0) {
    throw badUserInput([
      {
        path: ['after'],
        key: null,
        rule: 'cursor',
        message: 'not a cursor of this search',
      },
    ]);
  }
  return { index, afterUser: parsed.userId };
}

/**
 * Reads the users with stored values, realm by realm in catalog order and
 * by user id, until the page has `first` matches or has read
 * {@link MAX_SCANNED_PER_PAGE} users. The cursor is the id of the last
 * preference read, so the next page goes on right after it.
 */
async function searchPreferences(context: SubgraphContext, args: SearchArgs) {
  const realms = viewedRealms(context, args.realm);
  const first = bounded('first', args.first, 20, MAX_SEARCH_PAGE);
  const hasWanted = args.value !== undefined && args.value !== null;
  const known = realms.some((r) =>
    context.preferences.catalog.realm(r)?.definitions.has(args.key),
  );
  if (!known) {
    throw badUserInput([
      {
        path: ['key'],
        key: args.key,
        rule: 'unknownKey',
        message: `"${args.key}" is not a preference of the searched realms`,
      },
    ]);
  }

  const items: PreferenceMatchResult[] = [];
  const start = searchStart(realms, args.after);
  let scanned = 0;
  let last: string | null = null;
  let finished = true;
  search: for (let i = start.index; i < realms.length; i++) {
    const realmId = realms[i] as string;
    const realm = context.preferences.catalog.realm(realmId);
    if (!realm?.definitions.has(args.key)) continue;
    let after = i === start.index ? start.afterUser : null;
    for (;;) {
      const limit = Math.min(SEARCH_BATCH_SIZE, MAX_SCANNED_PER_PAGE - scanned);
      if (limit === 0) {
        finished = false;
        break search;
      }
      const page = await context.preferences.listUsers(realmId, {
        after,
        limit,
      });
      const stored = await context.preferences.readMany(realmId, page.userIds);
      for (const preference of stored) {
        scanned += 1;
        last = preferenceId(realmId, preference.userId);
        const [found] = effectiveValues(realm, preference, [args.key]);
        if (!found || !matches(found, args.value, hasWanted)) continue;
        items.push({
          ref: preferenceRef(realmId, preference.userId),
          value: found.value,
          source: found.source,
        });
        if (items.length === first) {
          finished = false;
          break search;
        }
      }
      if (page.nextCursor === null) break;
      after = page.nextCursor;
    }
  }
  return { items, scanned, nextCursor: finished ? null : last };
}

async function listRealmUsers(
  context: SubgraphContext,
  args: { realm?: string | null; first?: number | null; after?: string | null },
) {
  const realm = administeredRealm(context, args.realm);
  const first = bounded('first', args.first, 50, MAX_USERS_PAGE);
  const page = await context.preferences.listUsers(realm, {
    after: args.after ?? null,
    limit: first,
  });
  return {
    items: page.userIds.map((userId) => ({ realm, userId })),
    nextCursor: page.nextCursor,
  };
}

/** Query fields, spread into the core subgraph's `Query`. */
export const adminUsersQuery = {
  realmOverview: (
    _: unknown,
    args: { realm?: string | null },
    context: SubgraphContext,
  ): Promise<RealmOverview[]> =>
    Promise.all(
      viewedRealms(context, args.realm).map((realm) =>
        userAdmin(context).overview(realm),
      ),
    ),
  searchPreferences: (_: unknown, args: SearchArgs, context: SubgraphContext) =>
    searchPreferences(context, args),
  realmUsers: (
    _: unknown,
    args: {
      realm?: string | null;
      first?: number | null;
      after?: string | null;
    },
    context: SubgraphContext,
  ) => listRealmUsers(context, args),
  userAccess: async (
    _: unknown,
    args: { realm?: string | null; userId: string },
    context: SubgraphContext,
  ) => {
    const realm = administeredRealm(context, args.realm);
    const userId = checkedUserId(args.userId);
    const access = await userAdmin(context).readAccess(realm, userId);
    return { ...access, realm, userId };
  },
  realmUsage: async (
    _: unknown,
    args: {
      realm?: string | null;
      days?: number | null;
      topKeys?: number | null;
    },
    context: SubgraphContext,
  ) => {
    const realm = administeredRealm(context, args.realm);
    const days = bounded('days', args.days, 7, MAX_USAGE_DAYS);
    const topKeys = bounded('topKeys', args.topKeys, 10, MAX_TOP_KEYS);
    const usage = await userAdmin(context).usage(realm, days, topKeys);
    return usage.map((day: UsageDay) => ({ ...day, realm }));
  },
} satisfies Record<string, unknown>;

type UserArgs = { realm?: string | null; userId: string };
type RoleArgs = UserArgs & { role: GrantableRole };

/** Mutation fields, spread into the core subgraph's `Mutation`. */
export const adminUsersMutation = {
  grantRealmRole: (_: unknown, args: RoleArgs, context: SubgraphContext) =>
    accessChange(context, args, { grant: args.role }, null),
  revokeRealmRole: (_: unknown, args: RoleArgs, context: SubgraphContext) =>
    accessChange(context, args, { revoke: args.role }, 'revoke roles of'),
  disableUser: (_: unknown, args: UserArgs, context: SubgraphContext) =>
    accessChange(context, args, { disabled: true }, 'disable'),
  enableUser: (_: unknown, args: UserArgs, context: SubgraphContext) =>
    accessChange(context, args, { disabled: false }, null),
  erasePreferences: (_: unknown, args: UserArgs, context: SubgraphContext) =>
    auditedUserChange(context, args, async (realm, _identity, audit) => {
      const outcome = await userAdmin(context).erase(realm, args.userId, audit);
      return {
        preferenceId: preferenceId(realm, args.userId),
        erasedKeys: outcome.erasedKeys,
        auditId: outcome.audit.id,
      };
    }),
} satisfies Record<string, unknown>;

/** Types of this part of the admin API. */
export const adminUsersTypes: SubgraphDefinition['resolvers'] = {
  RealmRole: { REALM_ADMIN: 'realm-admin' },

  RealmOverview: {
    realmId: (overview: RealmOverview) => overview.realm,
  },

  RealmUsageDay: {
    realmId: (day: { realm: string }) => day.realm,
  },

  UserAccess: {
    realmId: (access: UserAccess & { realm: string }) => access.realm,
  },

  RealmUser: {
    preference: (user: { realm: string; userId: string }) =>
      preferenceRef(user.realm, user.userId),
    access: async (
      user: { realm: string; userId: string },
      _: unknown,
      context: SubgraphContext,
    ) => ({
      // From memory: a page of users costs no store read per user.
      ...(await userAdmin(context).enforcedAccess(user.realm, user.userId)),
      ...user,
    }),
  },

  PreferenceMatch: {
    preference: (match: { ref: unknown }) => match.ref,
  },
};

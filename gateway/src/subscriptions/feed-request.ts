import {
  getArgumentValues,
  type DocumentNode,
  type FieldNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import {
  forbidden,
  realmsError,
  unauthenticated,
  type Identity,
  type PreferenceChangeEvent,
  type PreferenceCatalog,
} from '@realms/platform';

/** The subscription root fields Realms serves, and whose changes each sees. */
export const FEED_FIELDS = {
  /** The caller's own preference in the request's realm. */
  preferenceChanged: 'own',
  /** A whole realm, for its admins and platform admins. */
  realmPreferenceChanged: 'realm',
  /** Every realm, for platform admins. */
  allRealmsPreferenceChanged: 'all',
  /** A realm's configuration changes, for the same admins. */
  realmConfigChanged: 'config',
} as const;

export type FeedFieldName = keyof typeof FEED_FIELDS;

/** What one subscription asks for, after authorization. */
export interface FeedRequest {
  readonly kind: 'own' | 'realm' | 'all' | 'config';
  readonly field: FieldNode;
  /** Where the field's result goes in `data` (its alias or name). */
  readonly responseKey: string;
  /**
   * The realm whose changes the feed sees; for an all-realms feed, the
   * connection's realm (it labels metrics and runs the executions).
   */
  readonly realm: string;
  /**
   * The realms whose change logs the feed follows: `realm`, or for an
   * all-realms feed every realm configured when it subscribed.
   */
  readonly realms: readonly string[];
  /** The one user whose changes this feed sees; null for a realm feed. */
  readonly userId: string | null;
  /**
   * Resume after this cursor (a realm's, or for an all-realms feed one
   * of `encodeAllRealmsCursor`); null for changes from now on.
   */
  readonly after: string | null;
  /**
   * Who may see what: two subscriptions with the same operation,
   * variables and scope get the same result for every event, so they can
   * share one federated execution.
   */
  readonly scope: string;
}

/**
 * Reads the subscription's root field and checks the caller may see that
 * feed. Throws UNAUTHENTICATED, FORBIDDEN or BAD_USER_INPUT.
 */
export function readFeedRequest(options: {
  schema: GraphQLSchema;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  variables: Record<string, unknown>;
  realm: string;
  identity: Identity | null;
  catalog: PreferenceCatalog;
}): FeedRequest {
  const field = rootField(options.operation);
  const name = field.name.value as FeedFieldName;
  const kind = FEED_FIELDS[name];
  const definition = options.schema.getSubscriptionType()?.getFields()[name];
  if (!kind || !definition) {
    throw realmsError(
      'BAD_USER_INPUT',
      `"${field.name.value}" is not a subscription Realms serves.`,
    );
  }
  const args = getArgumentValues(definition, field, options.variables) as {
    after?: string | null;
    realm?: string | null;
  };
  const identity = options.identity;
  if (!identity)
    throw unauthenticated(
      'Sign in first: send a realm token in connectionParams.',
    );
  const roles = [...identity.roles].sort().join(',');
  const responseKey = field.alias?.value ?? field.name.value;
  const after = args.after ?? null;

  if (kind === 'own') {
    return {
      kind,
      field,
      responseKey,
      realm: options.realm,
      realms: [options.realm],
      userId: identity.userId,
      after,
      scope: `own:${options.realm}:${identity.userId}:${roles}`,
    };
  }

  const platformAdmin = identity.roles.includes('platform-admin');
  if (kind === 'all') {
    // Realm admins see their own realm only: all realms is refused, not
    // narrowed, so a client never mistakes one realm for all of them.
    if (!platformAdmin) throw forbidden();
    return {
      kind,
      field,
      responseKey,
      realm: options.realm,
      realms: [...options.catalog.realmIds].sort(),
      userId: null,
      after,
      scope: `all:${options.realm}:${roles}`,
    };
  }

  const realm = args.realm ?? options.realm;
  const realmAdmin =
    identity.roles.includes('realm-admin') && identity.realm === realm;
  if (!platformAdmin && !realmAdmin) throw forbidden();
  if (!options.catalog.realm(realm)) {
    throw realmsError('NOT_FOUND', `Realm "${realm}" not found.`);
  }
  return {
    kind,
    field,
    responseKey,
    realm,
    realms: [realm],
    userId: null,
    after,
    scope: `${kind}:${realm}:${roles}`,
  };
}

/** Does this feed see this event? Checked for every event, server-side. */
export function feedSees(
  feed: FeedRequest,
  event: PreferenceChangeEvent,
): boolean {
  if (feed.kind === 'all') return feed.realms.includes(event.realm);
  return (
    event.realm === feed.realm &&
    (feed.userId === null || event.userId === feed.userId)
  );
}

function rootField(operation: OperationDefinitionNode): FieldNode {
  const fields = operation.selectionSet.selections.filter(
    (s): s is FieldNode => s.kind === 'Field' && s.name.value !== '__typename',
  );
  const [field] = fields;
  if (!field || fields.length !== 1) {
    throw realmsError(
      'BAD_USER_INPUT',
      'A subscription selects exactly one root field.',
    );
  }
  return field;
}

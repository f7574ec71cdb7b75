import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, OperationTypeNode, type OperationDefinitionNode } from 'graphql';
import {
  failingRequest,
  forbidden,
  unauthenticated,
  type Role,
} from '@realms/platform';
import type { GatewayContext } from '../gateway-server.js';

/**
 * Query root fields only some roles may ask for at all. The gateway
 * refuses the others before planning anything; each subgraph still checks
 * the exact rule (which realm, which user) itself, so this is a first wall,
 * not the only one.
 *
 * Mutations are deliberately absent: a refused write must still reach the
 * subgraph that owns it, because that is where it is written to the audit
 * log with outcome `FORBIDDEN`.
 */
export const ROOT_FIELD_ROLES: Readonly<Record<string, readonly Role[]>> = {
  realmPreferences: ['realm-admin', 'platform-admin'],
  auditLog: ['realm-admin', 'platform-admin'],
  realmOverview: ['realm-admin', 'platform-admin'],
  searchPreferences: ['realm-admin', 'platform-admin'],
  realmUsers: ['realm-admin', 'platform-admin'],
  userAccess: ['realm-admin', 'platform-admin'],
  realmUsage: ['realm-admin', 'platform-admin'],
};

/** Refuses an operation whose root fields the caller's roles do not reach. */
export const rootFieldPolicyPlugin: ApolloServerPlugin<GatewayContext> = {
  async requestDidStart() {
    return {
      async didResolveOperation({ contextValue, operation }) {
        const needed = requiredRoles(operation);
        if (needed.length === 0) return;
        const identity = contextValue.identity;
        if (!identity)
          throw failingRequest(
            unauthenticated('Sign in first: send a realm token.'),
          );
        for (const roles of needed) {
          if (!roles.some((role) => identity.roles.includes(role)))
            throw failingRequest(forbidden());
        }
      },
    };
  },
};

function requiredRoles(
  operation: OperationDefinitionNode | undefined,
): (readonly Role[])[] {
  if (!operation || operation.operation !== OperationTypeNode.QUERY) return [];
  return operation.selectionSet.selections.flatMap((selection) => {
    if (selection.kind !== Kind.FIELD) return [];
    const roles = ROOT_FIELD_ROLES[selection.name.value];
    return roles ? [roles] : [];
  });
}

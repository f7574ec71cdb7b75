import { forbidden } from '../errors/graphql-errors.js';

/** The roles a token may carry. */
export const ROLES = ['user', 'realm-admin', 'platform-admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return (
    typeof value === 'string' && (ROLES as readonly string[]).includes(value)
  );
}

/**
 * Who is asking, as verified by the gateway: the realm of the request, the
 * user the token names, and the roles it grants. Subgraphs receive it
 * signed by the gateway and trust nothing else.
 */
export interface Identity {
  readonly realm: string;
  readonly userId: string;
  readonly roles: readonly Role[];
}

/**
 * May `identity` read or write the preference of `userId` in `realm`?
 * A user reaches their own preference in the request's realm; a realm
 * admin any user of their realm; a platform admin any realm.
 */
export function mayAccessPreference(
  identity: Identity,
  realm: string,
  userId: string,
): boolean {
  if (identity.roles.includes('platform-admin')) return true;
  if (identity.realm !== realm) return false;
  if (identity.roles.includes('realm-admin')) return true;
  return identity.roles.includes('user') && identity.userId === userId;
}

/**
 * Whether `identity` may change the user-global layer of `userId`: values
 * that follow the user into every realm. The user themself may, and a
 * platform admin; a realm admin's reach ends at its realm, so it writes
 * realm values only.
 */
export function mayWriteUserGlobalLayer(
  identity: Identity,
  userId: string,
): boolean {
  return (
    identity.roles.includes('platform-admin') || identity.userId === userId
  );
}

/** Throws FORBIDDEN unless `mayAccessPreference` allows it. */
export function assertMayAccessPreference(
  identity: Identity,
  realm: string,
  userId: string,
): void {
  if (!mayAccessPreference(identity, realm, userId)) throw forbidden();
}

/** True for realm and platform admins. */
export function isAdmin(identity: Identity): boolean {
  return identity.roles.some(
    (r) => r === 'realm-admin' || r === 'platform-admin',
  );
}

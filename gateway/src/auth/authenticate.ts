import type { IncomingMessage } from 'node:http';
import {
  unauthenticated,
  type Identity,
  type RealmTokenVerifier,
} from '@realms/platform';

/**
 * The caller's identity from `Authorization: Bearer <token>`, verified
 * against the keys of the request's realm. No header means an anonymous
 * request (it can read public realm data only); a header with a bad token
 * fails the whole request with UNAUTHENTICATED.
 */
export async function authenticate(
  request: IncomingMessage,
  realmId: string,
  verifier: RealmTokenVerifier,
): Promise<Identity | null> {
  return verifyBearer(request.headers.authorization, realmId, verifier);
}

/**
 * Verifies `Bearer <token>` (HTTP header or WebSocket connection param).
 * Null for no credentials; UNAUTHENTICATED for malformed or bad ones, and
 * for a user an admin disabled in the realm. The identity has the roles
 * admins granted or revoked there: applied here, on every request, after
 * the token check (which may be cached), so a change counts at once.
 */
export async function verifyBearer(
  credentials: unknown,
  realmId: string,
  verifier: RealmTokenVerifier,
): Promise<Identity | null> {
  if (credentials === undefined || credentials === null || credentials === '')
    return null;
  const match =
    typeof credentials === 'string'
      ? /^Bearer\s+(\S+)$/i.exec(credentials)
      : null;
  if (!match?.[1]) {
    throw unauthenticated('Send the token as "Bearer <token>".');
  }
  return verifier.admit(await verifier.verify(match[1], realmId));
}

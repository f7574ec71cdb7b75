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
  const header = request.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match?.[1]) {
    throw unauthenticated('Send the token as "Authorization: Bearer <token>".');
  }
  return verifier.verify(match[1], realmId);
}

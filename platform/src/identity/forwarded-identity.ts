import { jwtVerify, SignJWT } from 'jose';
import { unauthenticated } from '../errors/graphql-errors.js';
import { isRole, type Identity, type Role } from './identity.js';

/** The header that carries the gateway-signed identity to subgraphs. */
export const IDENTITY_HEADER = 'x-realms-identity';
/** The header that carries the request id between services. */
export const REQUEST_ID_HEADER = 'x-request-id';

const AUDIENCE = 'realms-subgraphs';
const ISSUER = 'realms-gateway';
/** Forwarded identities live for one request; this bounds replay. */
const LIFETIME_SECONDS = 60;

/** What a subgraph learns from the gateway about one request. */
export interface ForwardedIdentity {
  /** The verified caller, or null for an anonymous request. */
  readonly identity: Identity | null;
  /** The realm the request was routed to. */
  readonly realm: string;
  readonly requestId: string;
  /**
   * The caller's network address, as the gateway saw it: the socket's
   * remote address, or the first `X-Forwarded-For` entry when the request
   * came through a trusted proxy. Null or absent when unknown. The audit
   * log records it with every write.
   */
  readonly clientAddress?: string | null;
}

/**
 * Signs and verifies the identity the gateway forwards to subgraphs: a
 * short-lived HS256 token over realm, user, roles, request id and client
 * address, with a secret only the gateway and subgraphs hold. A subgraph
 * refuses any request without a valid one, so calling it directly gains
 * nothing.
 */
export class IdentitySigner {
  private readonly key: Uint8Array;

  constructor(secret: string) {
    if (secret.length < 32) {
      throw new Error('The internal secret must be at least 32 characters');
    }
    this.key = new TextEncoder().encode(secret);
  }

  sign(forwarded: ForwardedIdentity): Promise<string> {
    const { identity, realm, requestId, clientAddress } = forwarded;
    return new SignJWT({
      realm,
      rid: requestId,
      ...(identity ? { roles: [...identity.roles] } : {}),
      ...(clientAddress ? { addr: clientAddress } : {}),
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(identity?.userId ?? '')
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${LIFETIME_SECONDS}s`)
      .sign(this.key);
  }

  /** Throws UNAUTHENTICATED unless the token was signed by the gateway. */
  async verify(token: string | undefined): Promise<ForwardedIdentity> {
    if (!token) {
      throw unauthenticated(
        'Subgraphs accept requests only through the gateway.',
      );
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
      }));
    } catch {
      throw unauthenticated(
        'Subgraphs accept requests only through the gateway.',
      );
    }
    const realm = payload['realm'];
    const requestId = payload['rid'];
    const roles = payload['roles'];
    const address = payload['addr'];
    if (typeof realm !== 'string' || typeof requestId !== 'string') {
      throw unauthenticated('Forwarded identity is incomplete.');
    }
    const identity =
      payload.sub && Array.isArray(roles) && roles.every(isRole)
        ? { realm, userId: payload.sub, roles: roles as Role[] }
        : null;
    const clientAddress = typeof address === 'string' ? address : null;
    return { identity, realm, requestId, clientAddress };
  }
}

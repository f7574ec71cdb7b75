import { createHmac, webcrypto } from 'node:crypto';
import { jwtVerify } from 'jose';
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
/** `{"alg":"HS256"}`, base64url-encoded: the header of every identity. */
const HS256_HEADER = base64url(JSON.stringify({ alg: 'HS256' }));

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

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
  private readonly secret: Buffer;
  /** Imported once: jose would import a raw key again on every verify. */
  private readonly verifyKey: Promise<webcrypto.CryptoKey>;

  constructor(secret: string) {
    if (secret.length < 32) {
      throw new Error('The internal secret must be at least 32 characters');
    }
    this.secret = Buffer.from(secret, 'utf8');
    this.verifyKey = webcrypto.subtle.importKey(
      'raw',
      this.secret,
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['verify'],
    );
  }

  /**
   * The gateway signs once per request, on its hottest path, so this is
   * a plain HS256 JWT made with node:crypto in a few microseconds (jose's
   * SignJWT goes through WebCrypto: ~70-100 µs each, measured). Subgraphs
   * verify it with jose.
   */
  sign(forwarded: ForwardedIdentity): Promise<string> {
    const { identity, realm, requestId, clientAddress } = forwarded;
    const issuedAt = Math.floor(Date.now() / 1000);
    const claims = {
      realm,
      rid: requestId,
      ...(identity ? { roles: [...identity.roles] } : {}),
      ...(clientAddress ? { addr: clientAddress } : {}),
      sub: identity?.userId ?? '',
      iss: ISSUER,
      aud: AUDIENCE,
      iat: issuedAt,
      exp: issuedAt + LIFETIME_SECONDS,
    };
    const unsigned = `${HS256_HEADER}.${base64url(JSON.stringify(claims))}`;
    const signature = createHmac('sha256', this.secret)
      .update(unsigned)
      .digest('base64url');
    return Promise.resolve(`${unsigned}.${signature}`);
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
      ({ payload } = await jwtVerify(token, await this.verifyKey, {
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

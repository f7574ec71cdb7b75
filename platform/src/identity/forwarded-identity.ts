import { createHmac, timingSafeEqual } from 'node:crypto';
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

  constructor(secret: string) {
    if (secret.length < 32) {
      throw new Error('The internal secret must be at least 32 characters');
    }
    this.secret = Buffer.from(secret, 'utf8');
  }

  /**
   * The gateway signs once per request, on its hottest path, so this is
   * a plain HS256 JWT made with node:crypto in a few microseconds (jose's
   * SignJWT goes through WebCrypto: ~70-100 µs each, measured).
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
    return Promise.resolve(`${unsigned}.${this.mac(unsigned)}`);
  }

  /**
   * Throws UNAUTHENTICATED unless the token was signed by the gateway.
   *
   * Every subgraph request runs this, so it is synchronous node:crypto,
   * not jose: jose verifies through WebCrypto, whose job machinery was
   * ~15 % of a division subgraph's CPU under the benchmark's load
   * (bench/README.md). It can be this small because only our own signer
   * makes these tokens: the header must be exactly the one `sign` writes
   * (so `alg: none`, another algorithm or any extra header field is
   * refused before the signature is looked at), the signature is compared
   * in constant time, and then the claims are checked as jose checked
   * them: issuer, audience, `exp` in the future, `nbf` (if any) not.
   */
  async verify(token: string | undefined): Promise<ForwardedIdentity> {
    const payload = token ? this.verifiedClaims(token) : null;
    if (!payload) {
      throw unauthenticated(
        'Subgraphs accept requests only through the gateway.',
      );
    }
    const realm = payload['realm'];
    const requestId = payload['rid'];
    const roles = payload['roles'];
    const address = payload['addr'];
    const subject = payload['sub'];
    if (typeof realm !== 'string' || typeof requestId !== 'string') {
      throw unauthenticated('Forwarded identity is incomplete.');
    }
    const identity =
      typeof subject === 'string' &&
      subject &&
      Array.isArray(roles) &&
      roles.every(isRole)
        ? { realm, userId: subject, roles: roles as Role[] }
        : null;
    const clientAddress = typeof address === 'string' ? address : null;
    return { identity, realm, requestId, clientAddress };
  }

  /** The token's claims if its header, signature and times are right. */
  private verifiedClaims(token: string): Record<string, unknown> | null {
    const [header, body, signature, extra] = token.split('.');
    if (
      header !== HS256_HEADER ||
      body === undefined ||
      signature === undefined ||
      extra !== undefined
    ) {
      return null;
    }
    const expected = Buffer.from(this.mac(`${header}.${body}`), 'utf8');
    const given = Buffer.from(signature, 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return null;

    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims))
      return null;
    const payload = claims as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    const { iss, aud, exp, nbf } = payload;
    const audienceOk =
      aud === AUDIENCE || (Array.isArray(aud) && aud.includes(AUDIENCE));
    if (iss !== ISSUER || !audienceOk) return null;
    if (typeof exp !== 'number' || exp <= now) return null;
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now))
      return null;
    return payload;
  }

  private mac(unsigned: string): string {
    return createHmac('sha256', this.secret)
      .update(unsigned)
      .digest('base64url');
  }
}

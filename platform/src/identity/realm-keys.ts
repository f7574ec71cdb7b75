import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import {
  createLocalJWKSet,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import { unauthenticated } from '../errors/graphql-errors.js';
import type { RealmConfig } from '../realm-config/catalog.js';
import { isRole, type Identity, type Role } from './identity.js';

/** Realm tokens are ES256 only; `alg: none` and HMAC are never accepted. */
const TOKEN_ALGORITHM = 'ES256';
/** Tolerated clock difference between the issuer and us. */
const CLOCK_SKEW_SECONDS = 30;

/** Where key files live. `REALMS_KEYS_DIR` overrides `<repo>/var/keys`. */
export function defaultKeysDir(): string {
  return (
    process.env['REALMS_KEYS_DIR'] ??
    fileURLToPath(new URL('../../../var/keys/', import.meta.url))
  );
}

const publicFile = (dir: string, realm: string) =>
  join(dir, `${realm}.jwks.json`);
const privateFile = (dir: string, realm: string) =>
  join(dir, `${realm}.private.jwk.json`);

/**
 * Development only: makes a signing key pair for every realm that has
 * none yet, writing the public key set and the private key under `dir`.
 * Production deployments provide `<realm>.jwks.json` files instead.
 */
export async function ensureDevKeys(
  realms: Iterable<RealmConfig>,
  dir = defaultKeysDir(),
): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const realm of realms) {
    try {
      await readFile(publicFile(dir, realm.id));
      continue;
    } catch {
      // No key yet: make one below.
    }
    const { publicKey, privateKey } = await generateKeyPair(TOKEN_ALGORITHM, {
      extractable: true,
    });
    const kid = `${realm.id}-${new Date().toISOString().slice(0, 10)}`;
    const jwk = {
      ...(await exportJWK(publicKey)),
      kid,
      alg: TOKEN_ALGORITHM,
      use: 'sig',
    };
    const privateJwk = {
      ...(await exportJWK(privateKey)),
      kid,
      alg: TOKEN_ALGORITHM,
    };
    await writeFile(privateFile(dir, realm.id), JSON.stringify(privateJwk), {
      mode: 0o600,
    });
    await writeFile(
      publicFile(dir, realm.id),
      JSON.stringify({ keys: [jwk] }, null, 2),
    );
  }
}

/**
 * Verifies realm tokens. Each realm trusts only its own key set, so a token
 * signed for one realm never verifies in another.
 */
export class RealmTokenVerifier {
  private constructor(
    private readonly keySets: ReadonlyMap<string, JWTVerifyGetKey>,
    private readonly realms: ReadonlyMap<string, RealmConfig>,
  ) {}

  /** Loads `<realm>.jwks.json` of every realm from `dir`. */
  static async load(
    realms: Iterable<RealmConfig>,
    dir = defaultKeysDir(),
  ): Promise<RealmTokenVerifier> {
    const keySets = new Map<string, JWTVerifyGetKey>();
    const configs = new Map<string, RealmConfig>();
    for (const realm of realms) {
      const jwks = JSON.parse(
        await readFile(publicFile(dir, realm.id), 'utf8'),
      );
      keySets.set(realm.id, createLocalJWKSet(jwks));
      configs.set(realm.id, realm);
    }
    return new RealmTokenVerifier(keySets, configs);
  }

  /** Returns the identity of a valid token; throws UNAUTHENTICATED. */
  async verify(token: string, realmId: string): Promise<Identity> {
    const keySet = this.keySets.get(realmId);
    const realm = this.realms.get(realmId);
    if (!keySet || !realm) throw unauthenticated('No keys for this realm.');

    let payload;
    try {
      ({ payload } = await jwtVerify(token, keySet, {
        algorithms: [TOKEN_ALGORITHM],
        issuer: realm.auth.issuer,
        audience: realm.auth.audience,
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      throw unauthenticated(describeTokenFailure(token, realmId, error));
    }

    const roles = Array.isArray(payload['roles']) ? payload['roles'] : ['user'];
    if (payload['realm'] !== realmId || !roles.every(isRole)) {
      throw unauthenticated('Token is not valid for this realm.');
    }
    return {
      realm: realmId,
      userId: payload.sub as string,
      roles: roles as Role[],
    };
  }
}

/** A message that helps the caller without revealing key material. */
function describeTokenFailure(
  token: string,
  realmId: string,
  error: unknown,
): string {
  try {
    const claimedRealm = decodeJwt(token)['realm'];
    if (typeof claimedRealm === 'string' && claimedRealm !== realmId) {
      return `Token was issued for realm "${claimedRealm}", not "${realmId}".`;
    }
  } catch {
    return 'Token is malformed.';
  }
  const code = (error as { code?: string }).code;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'Token has expired.';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return 'Token claims are not valid for this realm (issuer, audience or validity time).';
    default:
      return 'Token signature or algorithm is not accepted.';
  }
}

/** What a development token says. */
export interface TokenRequest {
  readonly realm: RealmConfig;
  readonly userId: string;
  readonly roles: readonly Role[];
  readonly expiresIn?: string;
}

/**
 * Development only: signs a realm token with the realm's private key from
 * `dir` (as `npm run token` does). Production tokens come from the
 * identity provider that holds the realm's key.
 */
export async function issueDevToken(
  request: TokenRequest,
  dir = defaultKeysDir(),
): Promise<string> {
  const jwk = JSON.parse(
    await readFile(privateFile(dir, request.realm.id), 'utf8'),
  ) as JWK;
  const key = await importJWK(jwk, TOKEN_ALGORITHM);
  return new SignJWT({ realm: request.realm.id, roles: [...request.roles] })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: jwk.kid ?? '' })
    .setSubject(request.userId)
    .setIssuer(request.realm.auth.issuer)
    .setAudience(request.realm.auth.audience)
    .setIssuedAt()
    .setExpirationTime(request.expiresIn ?? '12h')
    .sign(key);
}

/**
 * The secret the gateway signs forwarded identities with. Taken from
 * `REALMS_INTERNAL_SECRET`; in development one is generated once under
 * `dir` so that every local process shares it. Production must set it.
 */
export async function loadInternalSecret(
  dir = defaultKeysDir(),
): Promise<string> {
  const fromEnv = process.env['REALMS_INTERNAL_SECRET'];
  if (fromEnv) return fromEnv;
  if (process.env['NODE_ENV'] === 'production') {
    throw new Error('REALMS_INTERNAL_SECRET must be set in production');
  }
  const file = join(dir, 'internal.secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const secret = randomBytes(32).toString('base64url');
    await writeFile(file, secret, { mode: 0o600, flag: 'wx' }).catch(
      () => undefined,
    );
    return (await readFile(file, 'utf8')).trim();
  }
}

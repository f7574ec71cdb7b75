import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import {
  decodeJwt,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { unauthenticated } from '../errors/graphql-errors.js';
import type { Logger } from '../logging/logger.js';
import type { RealmConfig } from '../realm-config/catalog.js';
import { isRole, type Identity, type Role } from './identity.js';
import {
  openKeySet,
  realmKeySettings,
  type RealmKeySet,
  writeFileAtomic,
  type KeySetOptions,
} from './realm-key-sets.js';

export {
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  realmKeySettings,
  type KeySetOptions,
  type RealmAuthSettings,
  type RealmKeySettings,
  type RealmKeySource,
} from './realm-key-sets.js';

/** Realm tokens are ES256 only; `alg: none` and HMAC are never accepted. */
const TOKEN_ALGORITHM = 'ES256';
/** Keys a realm's key set keeps when a dev key is rotated: new and previous. */
const ACTIVE_KEYS = 2;

/** Where key files live. `REALMS_KEYS_DIR` overrides `<repo>/var/keys`. */
export function defaultKeysDir(): string {
  return (
    process.env['REALMS_KEYS_DIR'] ??
    fileURLToPath(new URL('../../../var/keys/', import.meta.url))
  );
}

const privateFile = (dir: string, realm: string) =>
  join(dir, `${realm}.private.jwk.json`);

/** A realm's key set file, or null when its keys come from a JWKS URL. */
function keySetFileOf(realm: RealmConfig, dir: string): string | null {
  const { source } = realmKeySettings(realm, dir);
  return source.kind === 'file' ? source.path : null;
}

/** A new ES256 key pair with a fresh, unique `kid`. */
async function generateDevKey(
  realmId: string,
): Promise<{ publicJwk: JWK; privateJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair(TOKEN_ALGORITHM, {
    extractable: true,
  });
  const day = new Date().toISOString().slice(0, 10);
  const kid = `${realmId}-${day}-${randomBytes(4).toString('hex')}`;
  return {
    publicJwk: {
      ...(await exportJWK(publicKey)),
      kid,
      alg: TOKEN_ALGORITHM,
      use: 'sig',
    },
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: TOKEN_ALGORITHM },
  };
}

/**
 * Writes a realm's key set, then its signing key. In this order a
 * verifier knows a new key before any token is signed with it.
 */
async function writeDevKeys(
  realmId: string,
  dir: string,
  keySetFile: string,
  publicKeys: readonly JWK[],
  privateJwk: JWK,
): Promise<void> {
  await mkdir(dirname(keySetFile), { recursive: true, mode: 0o700 });
  await writeFileAtomic(
    keySetFile,
    JSON.stringify({ keys: publicKeys }, null, 2),
    0o644,
  );
  await writeFileAtomic(
    privateFile(dir, realmId),
    JSON.stringify(privateJwk),
    0o600,
  );
}

/**
 * Development only: makes a signing key pair for every realm that has
 * none yet, writing the public key set (`auth.jwksFile`, by default
 * `<realm>.jwks.json`) and the private key under `dir`. Realms whose keys
 * come from `auth.jwksUrl` are skipped: their identity provider signs.
 * Production deployments provide the key set files instead.
 */
export async function ensureDevKeys(
  realms: Iterable<RealmConfig>,
  dir = defaultKeysDir(),
): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const realm of realms) {
    const keySetFile = keySetFileOf(realm, dir);
    if (!keySetFile) continue;
    try {
      await readFile(keySetFile);
      continue;
    } catch {
      // No key yet: make one below.
    }
    const { publicJwk, privateJwk } = await generateDevKey(realm.id);
    await writeDevKeys(realm.id, dir, keySetFile, [publicJwk], privateJwk);
  }
}

/**
 * Development only: rotates a realm's signing key. A new key pair (new
 * `kid`) becomes the signing key of `issueDevToken`; the key set keeps the
 * previous public key too, so tokens signed before the rotation stay
 * valid until they expire (two active keys). Older keys are dropped:
 * their tokens are refused from then on. Verifiers re-read the key set
 * file by themselves (see `RealmTokenVerifier.load`), so no restart is
 * needed. Returns the new key's `kid`.
 */
export async function rotateDevKey(
  realm: RealmConfig,
  dir = defaultKeysDir(),
): Promise<string> {
  const keySetFile = keySetFileOf(realm, dir);
  if (!keySetFile) {
    throw new Error(
      `Realm "${realm.id}" takes its keys from auth.jwksUrl; ` +
        'rotate them at its identity provider.',
    );
  }
  let current: JWK[] = [];
  try {
    const parsed = JSON.parse(await readFile(keySetFile, 'utf8')) as {
      keys?: unknown;
    };
    if (Array.isArray(parsed.keys)) current = parsed.keys as JWK[];
  } catch {
    // No key set yet: the new key is the first.
  }

  const { publicJwk, privateJwk } = await generateDevKey(realm.id);
  const keys = [publicJwk, ...current].slice(0, ACTIVE_KEYS);
  await writeDevKeys(realm.id, dir, keySetFile, keys, privateJwk);
  return publicJwk.kid ?? '';
}

/** Options of `RealmTokenVerifier.load`; see `KeySetOptions`. */
export interface RealmTokenVerifierOptions extends KeySetOptions {
  /**
   * What admins changed about users (see user-access.ts), applied by
   * `admit` to a verified token's identity, so a disabled user's tokens
   * are refused and granted or revoked roles count. Without it, a token's
   * claims are all there is.
   */
  readonly access?: IdentityAccess;
}

/** Turns the identity a token claims into the one it stands for now. */
export interface IdentityAccess {
  /**
   * The identity with the roles admins granted or revoked in its realm;
   * throws UNAUTHENTICATED when the user is disabled there.
   */
  apply(identity: Identity): Identity;
  /** Whether the user is disabled in the realm (no allocation). */
  isDisabled(realm: string, userId: string): boolean;
}

interface RealmTrust {
  readonly realm: RealmConfig;
  readonly keys: RealmKeySet;
  readonly clockToleranceSeconds: number;
}

/**
 * Verifies realm tokens. Each realm trusts only its own key set, so a token
 * signed for one realm never verifies in another. A key set holds one or
 * more keys (by `kid`); a token signed by any of them verifies, which is
 * what lets a realm rotate its key without refusing tokens already out.
 */
export class RealmTokenVerifier {
  private constructor(
    private readonly realms: ReadonlyMap<string, RealmTrust>,
    private readonly logger: Logger | undefined,
    private readonly access: IdentityAccess | undefined,
  ) {}

  /**
   * Opens the key set of every realm, from its `auth`:
   *
   * - `jwksUrl`: a remote JWKS, fetched on the first token, cached for
   *   `jwksCacheMaxAgeMs` and fetched again early when a token names an
   *   unknown `kid` (at most once per `jwksCooldownMs`). Must be https,
   *   or http to a loopback host.
   * - `jwksFile`: a key set file relative to `dir`.
   * - neither: `<dir>/<realm>.jwks.json`.
   *
   * A key set file is checked for changes at most every
   * `keyFileCheckIntervalMs` (default 5 s) and re-read when it changed,
   * so a rotated key is trusted without a restart. Throws at start-up for
   * a missing or unparsable key set file and for an invalid `auth`
   * (naming the realm file).
   */
  static async load(
    realms: Iterable<RealmConfig>,
    dir = defaultKeysDir(),
    options: RealmTokenVerifierOptions = {},
  ): Promise<RealmTokenVerifier> {
    const trusted = new Map<string, RealmTrust>();
    for (const realm of realms) {
      const { source, clockToleranceSeconds } = realmKeySettings(realm, dir);
      const keys = await openKeySet(realm.id, source, options);
      trusted.set(realm.id, { realm, keys, clockToleranceSeconds });
    }
    return new RealmTokenVerifier(trusted, options.logger, options.access);
  }

  /**
   * Returns the identity of a valid token of `realmId`. Throws
   * UNAUTHENTICATED when it is not one; the message says why without
   * repeating the token or any key.
   */
  async verify(token: string, realmId: string): Promise<Identity> {
    const trust = this.realms.get(realmId);
    if (!trust) throw unauthenticated('No keys for this realm.');
    const { realm } = trust;

    let payload: JWTPayload;
    try {
      payload = await verifyWithKeySet(token, trust.keys.getKey, {
        algorithms: [TOKEN_ALGORITHM],
        issuer: realm.auth.issuer,
        audience: realm.auth.audience,
        clockTolerance: trust.clockToleranceSeconds,
        requiredClaims: ['sub', 'exp'],
      });
    } catch (error) {
      const reason = this.describeFailure(token, realmId, error);
      if (reason.keysUnavailable) {
        this.logger?.warn(
          { realm: realmId, err: error },
          'realm key set is unavailable',
        );
      }
      throw unauthenticated(reason.message);
    }

    return identityOf(payload, realmId);
  }

  /**
   * Changes whenever the keys `realmId` trusts change (a key set file was
   * re-read). A caller that remembers verifications (the gateway's
   * verified-token cache) keeps the generation with each and verifies
   * again once it moved, so a removed key stops its tokens as soon as the
   * verifier itself would. Cheap and never waits (see RealmKeySet).
   */
  keySetGeneration(realmId: string): number {
    return this.realms.get(realmId)?.keys.generation() ?? 0;
  }

  /**
   * The identity a verified token stands for now, as admins left it:
   * roles granted or revoked in its realm applied, UNAUTHENTICATED when
   * its user is disabled there. Apart from `verify`, whose answer callers
   * may cache (it depends on the token alone): this is a map lookup, asked
   * on every request, so an admin's change counts at once.
   */
  admit(identity: Identity): Identity {
    return this.access ? this.access.apply(identity) : identity;
  }

  /**
   * Whether an identity this verifier returned still stands: false once
   * its user was disabled in its realm. A map lookup, for long-lived
   * connections to ask before each delivery.
   */
  stillAdmits(identity: Identity): boolean {
    return !this.access?.isDisabled(identity.realm, identity.userId);
  }

  /** A message that helps the caller without revealing key material. */
  private describeFailure(
    token: string,
    realmId: string,
    error: unknown,
  ): { message: string; keysUnavailable?: boolean } {
    let claimedRealm: unknown;
    try {
      claimedRealm = decodeJwt(token)['realm'];
    } catch {
      return { message: 'Token is malformed.' };
    }
    // Name the other realm only when it is one of ours: anything else in
    // an unverified token is the sender's text, not ours to echo.
    if (
      typeof claimedRealm === 'string' &&
      claimedRealm !== realmId &&
      this.realms.has(claimedRealm)
    ) {
      return {
        message: `Token was issued for realm "${claimedRealm}", not "${realmId}".`,
      };
    }
    return describeJoseFailure(error);
  }
}

/**
 * `jwtVerify` against a key set. A token without a `kid` matches every
 * key of a rotated set; jose then leaves it to us to try each in turn.
 */
async function verifyWithKeySet(
  token: string,
  keys: JWTVerifyGetKey,
  options: JWTVerifyOptions,
): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, keys, options)).payload;
  } catch (error) {
    if (!isMultipleMatchingKeys(error)) throw error;
    for await (const key of error) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (keyError) {
        const code = (keyError as { code?: string }).code;
        if (code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw keyError;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

function isMultipleMatchingKeys(
  error: unknown,
): error is errors.JWKSMultipleMatchingKeys {
  return error instanceof errors.JWKSMultipleMatchingKeys;
}

/** The identity a verified token grants; UNAUTHENTICATED if it grants none. */
function identityOf(payload: JWTPayload, realmId: string): Identity {
  if (payload['realm'] !== realmId) {
    throw unauthenticated('Token is not valid for this realm.');
  }
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw unauthenticated('Token does not name a user.');
  }
  // No `roles` claim means a plain user; anything else must be a list of
  // known roles, so a typo never silently becomes less (or more) access.
  const roles = payload['roles'] ?? ['user'];
  if (!Array.isArray(roles) || !roles.every(isRole)) {
    throw unauthenticated('Token grants a role that does not exist.');
  }
  return { realm: realmId, userId: payload.sub, roles: roles as Role[] };
}

/** Maps a jose error to our message, never to jose's own text. */
function describeJoseFailure(error: unknown): {
  message: string;
  keysUnavailable?: boolean;
} {
  const { code, claim } = (error ?? {}) as { code?: string; claim?: string };
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return { message: 'Token has expired.' };
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return { message: describeClaimFailure(claim) };
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return {
        message: `Token algorithm is not accepted (${TOKEN_ALGORITHM} only).`,
      };
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return { message: 'Token was not signed by a key of this realm.' };
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return { message: 'Token signature is not valid.' };
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return { message: 'Token is malformed.' };
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JOSE_GENERIC':
    case 'ERR_JWKS_INVALID':
    case 'ERR_JWK_INVALID':
    case undefined:
      // The key set could not be fetched or parsed: not the caller's
      // fault, but without keys no token can be accepted.
      return {
        message: "The realm's signing keys are unavailable; try again later.",
        keysUnavailable: true,
      };
    default:
      return { message: 'Token signature or algorithm is not accepted.' };
  }
}

function describeClaimFailure(claim: string | undefined): string {
  switch (claim) {
    case 'nbf':
      return 'Token is not valid yet.';
    case 'iat':
      return 'Token was issued in the future.';
    case 'iss':
      return 'Token was not issued by this realm.';
    case 'aud':
      return 'Token is not meant for this audience.';
    case 'sub':
    case 'exp':
      return `Token lacks the "${claim}" claim.`;
    default:
      return 'Token claims are not valid for this realm.';
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
 * Development only: signs a realm token with the realm's newest private
 * key from `dir` (as `npm run token` does; `rotateDevKey` replaces it).
 * Production tokens come from the identity provider that holds the
 * realm's key.
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

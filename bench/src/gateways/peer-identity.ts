// What a user of a stock gateway writes to reach Realms subgraphs: verify
// the caller's realm token with jose against the realm's key set, and sign
// the identity the subgraphs expect. Deliberately free of @realms/platform
// so a peer's memory is its own; the wire contract it mirrors is
// platform/src/identity/forwarded-identity.ts.
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../system.js';
import {
  createLocalJWKSet,
  jwtVerify,
  SignJWT,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';

/** The header subgraphs read the gateway-signed identity from. */
export const IDENTITY_HEADER = 'x-realms-identity';
/** The header that names the realm (set by NGINX; loopback is trusted). */
export const REALM_HEADER = 'x-client-id';

interface RealmTrust {
  readonly issuer: string;
  readonly audience: string;
  readonly keys: JWTVerifyGetKey;
}

/** The caller as a peer gateway knows it, signed once on first use. */
export interface PeerCaller {
  readonly realm: string;
  readonly userId: string;
  readonly roles: readonly string[];
  /** The `x-realms-identity` value for subgraph fetches. */
  readonly forwardedIdentity: () => Promise<string>;
}

/** Thrown for a request without a known realm or a valid token. */
export class PeerAuthError extends Error {}

/** Realm token verification and identity signing for the peer gateways. */
export class PeerIdentity {
  private constructor(
    private readonly realms: ReadonlyMap<string, RealmTrust>,
    private readonly secret: Uint8Array,
  ) {}

  /** Reads every realm file in `realmsDir` and its key set in `keysDir`. */
  static async load(
    realmsDir: string,
    keysDir: string,
    secret: string,
  ): Promise<PeerIdentity> {
    const realms = new Map<string, RealmTrust>();
    for (const file of await readdir(realmsDir)) {
      if (!file.endsWith('.json')) continue;
      const realm = JSON.parse(await readFile(join(realmsDir, file), 'utf8'));
      const jwks = JSON.parse(
        await readFile(join(keysDir, `${realm.id}.jwks.json`), 'utf8'),
      ) as JSONWebKeySet;
      realms.set(realm.id, {
        issuer: realm.auth.issuer,
        audience: realm.auth.audience,
        keys: createLocalJWKSet(jwks),
      });
    }
    return new PeerIdentity(realms, new TextEncoder().encode(secret));
  }

  /** Verifies `Authorization: Bearer <token>` for the realm header's realm. */
  async authenticate(
    realmHeader: string | null | undefined,
    authorization: string | null | undefined,
  ): Promise<PeerCaller> {
    const realm = realmHeader?.trim().toLowerCase() ?? '';
    const trust = this.realms.get(realm);
    if (!trust) throw new PeerAuthError(`Unknown realm "${realm}".`);
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new PeerAuthError('Send a bearer token.');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, trust.keys, {
        algorithms: ['ES256'],
        issuer: trust.issuer,
        audience: trust.audience,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch {
      throw new PeerAuthError('Token is not valid.');
    }
    if (payload['realm'] !== realm || typeof payload.sub !== 'string') {
      throw new PeerAuthError('Token is not valid for this realm.');
    }
    const roles = Array.isArray(payload['roles'])
      ? (payload['roles'] as string[])
      : ['user'];
    const userId = payload.sub;
    let signed: Promise<string> | undefined;
    return {
      realm,
      userId,
      roles,
      forwardedIdentity: () =>
        (signed ??= this.sign(realm, userId, roles, randomUUID())),
    };
  }

  private sign(
    realm: string,
    userId: string,
    roles: readonly string[],
    requestId: string,
  ): Promise<string> {
    return new SignJWT({ realm, rid: requestId, roles: [...roles] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setIssuer('realms-gateway')
      .setAudience('realms-subgraphs')
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(this.secret);
  }
}

/** The committed supergraph with each subgraph's URL replaced. */
export function withSubgraphUrls(
  supergraphSdl: string,
  urls: Readonly<Record<string, string>>,
): string {
  return supergraphSdl.replace(
    /@join__graph\(name: "([a-z]+)", url: "[^"]*"\)/g,
    (whole, name: string) =>
      urls[name]
        ? `@join__graph(name: "${name}", url: "${urls[name]}")`
        : whole,
  );
}

/** What every peer process reads from its environment. */
export function peerSettings() {
  const need = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} must be set`);
    return value;
  };
  return {
    port: Number(need('PORT')),
    keysDir: need('REALMS_KEYS_DIR'),
    secret: need('REALMS_INTERNAL_SECRET'),
    subgraphUrls: JSON.parse(need('BENCH_SUBGRAPH_URLS')) as Record<
      string,
      string
    >,
  };
}

/**
 * What a peer gateway process starts from: its settings, the identity
 * helper and the committed supergraph pointed at this run's subgraphs.
 */
export async function loadPeer() {
  const settings = peerSettings();
  const identity = await PeerIdentity.load(
    `${repoRoot}schema/realms`,
    settings.keysDir,
    settings.secret,
  );
  const supergraphSdl = withSubgraphUrls(
    await readFile(`${repoRoot}schema/supergraph.graphql`, 'utf8'),
    settings.subgraphUrls,
  );
  return { settings, identity, supergraphSdl };
}

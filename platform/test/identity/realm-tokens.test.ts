import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphQLError } from 'graphql';
import {
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureDevKeys,
  issueDevToken,
  RealmTokenVerifier,
  rotateDevKey,
  type RealmAuthSettings,
  type RealmTokenVerifierOptions,
} from '../../src/identity/realm-keys.js';
import type { RealmConfig } from '../../src/realm-config/catalog.js';
import { realCatalog } from '../fixtures.js';

const catalog = realCatalog();
const sports = catalog.realm('sports') as RealmConfig;
const parks = catalog.realm('parks') as RealmConfig;

/** `realm` with extra `auth` settings, as a realm file could give them. */
function withAuth(
  realm: RealmConfig,
  extra: Partial<RealmAuthSettings>,
): RealmConfig {
  const auth: RealmAuthSettings = { ...realm.auth, ...extra };
  return { ...realm, auth };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Valid claims of a token of `realm`; `overrides` may drop (undefined) some. */
function claimsOf(
  realm: RealmConfig,
  overrides: Record<string, unknown> = {},
): JWTPayload {
  const claims: Record<string, unknown> = {
    realm: realm.id,
    roles: ['user'],
    sub: 'alice',
    iss: realm.auth.issuer,
    aud: realm.auth.audience,
    iat: nowSeconds(),
    exp: nowSeconds() + 600,
    ...overrides,
  };
  for (const [name, value] of Object.entries(claims)) {
    if (value === undefined) delete claims[name];
  }
  return claims;
}

/** Signs ES256 with a private JWK; the header names its kid unless told. */
async function signWith(
  privateJwk: JWK,
  claims: JWTPayload,
  header: { kid?: string | null } = {},
): Promise<string> {
  const kid = header.kid === undefined ? privateJwk.kid : header.kid;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', ...(kid ? { kid } : {}) })
    .sign(await importJWK(privateJwk, 'ES256'));
}

const base64url = (value: unknown) =>
  Buffer.from(JSON.stringify(value)).toString('base64url');

describe('realm token verification', () => {
  let dir = '';
  /** Every key file value and token seen: none may appear in a message. */
  const secrets = new Set<string>();

  const privateKeyOf = async (realm: RealmConfig): Promise<JWK> => {
    const jwk = JSON.parse(
      await readFile(join(dir, `${realm.id}.private.jwk.json`), 'utf8'),
    ) as JWK;
    for (const part of [jwk.d, jwk.x, jwk.y]) if (part) secrets.add(part);
    return jwk;
  };

  const publicKeysOf = async (realm: RealmConfig): Promise<JWK[]> =>
    (
      JSON.parse(
        await readFile(join(dir, `${realm.id}.jwks.json`), 'utf8'),
      ) as { keys: JWK[] }
    ).keys;

  const load = (options: RealmTokenVerifierOptions = {}) =>
    RealmTokenVerifier.load([sports, parks], dir, {
      keyFileCheckIntervalMs: 0,
      ...options,
    });

  /** Resolves when `verify` refuses with UNAUTHENTICATED and a clean message. */
  async function expectRefused(
    verifier: RealmTokenVerifier,
    token: string,
    realm: RealmConfig = sports,
  ): Promise<GraphQLError> {
    const error = await verifier.verify(token, realm.id).then(
      () => {
        throw new Error('expected the token to be refused');
      },
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(GraphQLError);
    const graphQLError = error as GraphQLError;
    expect(graphQLError.extensions['code']).toBe('UNAUTHENTICATED');

    const parts = [token, ...token.split('.'), ...secrets];
    for (const secret of parts.filter((part) => part.length > 8)) {
      expect(graphQLError.message).not.toContain(secret);
    }
    return graphQLError;
  }

  afterEach(async () => {
    // Every test makes its own key directory: rotation changes the keys.
    await rm(dir, { recursive: true, force: true });
  });

  /** A new key directory with dev keys for sports and parks. */
  async function freshKeys(): Promise<RealmTokenVerifier> {
    dir = await mkdtemp(join(tmpdir(), 'realm-tokens-'));
    await ensureDevKeys([sports, parks], dir);
    await privateKeyOf(sports);
    await privateKeyOf(parks);
    return load();
  }

  describe('claims and time', () => {
    it('accepts a valid token and returns its identity', async () => {
      const verifier = await freshKeys();
      const token = await issueDevToken(
        { realm: sports, userId: 'alice', roles: ['user', 'realm-admin'] },
        dir,
      );
      await expect(verifier.verify(token, 'sports')).resolves.toEqual({
        realm: 'sports',
        userId: 'alice',
        roles: ['user', 'realm-admin'],
      });
    });

    it('refuses a token expired beyond the clock tolerance', async () => {
      const verifier = await freshKeys();
      const token = await signWith(
        await privateKeyOf(sports),
        claimsOf(sports, { iat: nowSeconds() - 600, exp: nowSeconds() - 60 }),
      );
      const error = await expectRefused(verifier, token);
      expect(error.message).toBe('Token has expired.');
    });

    it('accepts a token expired within the clock tolerance', async () => {
      const verifier = await freshKeys();
      const token = await signWith(
        await privateKeyOf(sports),
        claimsOf(sports, { iat: nowSeconds() - 600, exp: nowSeconds() - 10 }),
      );
      await expect(verifier.verify(token, 'sports')).resolves.toMatchObject({
        userId: 'alice',
      });
    });

    it("uses the realm's own clockToleranceSeconds", async () => {
      await freshKeys();
      const strict = withAuth(sports, { clockToleranceSeconds: 0 });
      const verifier = await RealmTokenVerifier.load([strict], dir);
      const token = await signWith(
        await privateKeyOf(sports),
        claimsOf(sports, { iat: nowSeconds() - 600, exp: nowSeconds() - 10 }),
      );
      await expectRefused(verifier, token);
    });

    it('refuses a token not valid yet beyond the tolerance, accepts within', async () => {
      const verifier = await freshKeys();
      const key = await privateKeyOf(sports);
      const later = await signWith(
        key,
        claimsOf(sports, { nbf: nowSeconds() + 120 }),
      );
      const error = await expectRefused(verifier, later);
      expect(error.message).toBe('Token is not valid yet.');

      const soon = await signWith(
        key,
        claimsOf(sports, { nbf: nowSeconds() + 10 }),
      );
      await expect(verifier.verify(soon, 'sports')).resolves.toBeDefined();
    });

    it('refuses a token for another audience', async () => {
      const verifier = await freshKeys();
      const token = await signWith(
        await privateKeyOf(sports),
        claimsOf(sports, { aud: 'some-other-api' }),
      );
      const error = await expectRefused(verifier, token);
      expect(error.message).toBe('Token is not meant for this audience.');
    });

    it('refuses a token from another issuer', async () => {
      const verifier = await freshKeys();
      const token = await signWith(
        await privateKeyOf(sports),
        claimsOf(sports, { iss: 'https://evil.example' }),
      );
      const error = await expectRefused(verifier, token);
      expect(error.message).toBe('Token was not issued by this realm.');
    });

    it('refuses a token without an expiry or a subject', async () => {
      const verifier = await freshKeys();
      const key = await privateKeyOf(sports);
      await expectRefused(
        verifier,
        await signWith(key, claimsOf(sports, { exp: undefined })),
      );
      await expectRefused(
        verifier,
        await signWith(key, claimsOf(sports, { sub: undefined })),
      );
    });

    it('refuses a missing or mismatched realm claim', async () => {
      const verifier = await freshKeys();
      const key = await privateKeyOf(sports);
      const missing = await signWith(
        key,
        claimsOf(sports, { realm: undefined }),
      );
      await expectRefused(verifier, missing);

      const mismatched = await signWith(
        key,
        claimsOf(sports, { realm: 'parks' }),
      );
      await expectRefused(verifier, mismatched);
    });

    it('refuses roles outside user, realm-admin and platform-admin', async () => {
      const verifier = await freshKeys();
      const key = await privateKeyOf(sports);
      for (const roles of [['user', 'superuser'], 'platform-admin', [42]]) {
        const token = await signWith(key, claimsOf(sports, { roles }));
        await expectRefused(verifier, token);
      }
    });
  });

  describe('keys and algorithms', () => {
    it("refuses a token signed with another realm's key", async () => {
      const verifier = await freshKeys();
      const parksKey = await privateKeyOf(parks);
      const sportsKid = (await privateKeyOf(sports)).kid ?? null;

      // With the parks kid: no sports key matches.
      const ownKid = await signWith(parksKey, claimsOf(sports));
      const error = await expectRefused(verifier, ownKid);
      expect(error.message).toBe(
        'Token was not signed by a key of this realm.',
      );

      // Claiming the sports kid: the signature does not check out.
      const forgedKid = await signWith(parksKey, claimsOf(sports), {
        kid: sportsKid,
      });
      await expectRefused(verifier, forgedKid);

      // A genuine parks token sent to sports names the realm it is for.
      const parksToken = await issueDevToken(
        { realm: parks, userId: 'alice', roles: ['user'] },
        dir,
      );
      const wrongRealm = await expectRefused(verifier, parksToken);
      expect(wrongRealm.message).toContain('"parks"');
    });

    it('refuses an unsigned token (alg: none)', async () => {
      const verifier = await freshKeys();
      const { kid } = await privateKeyOf(sports);
      for (const header of [{ alg: 'none' }, { alg: 'none', kid }]) {
        const token = `${base64url(header)}.${base64url(claimsOf(sports))}.`;
        const error = await expectRefused(verifier, token);
        expect(error.message).toContain('algorithm is not accepted');
      }
    });

    it("refuses HS256 signed with the realm's public key as the secret", async () => {
      const verifier = await freshKeys();
      const [publicJwk] = await publicKeysOf(sports);
      if (!publicJwk) throw new Error('no public key');
      const publicKey = (await importJWK(publicJwk, 'ES256')) as CryptoKey;
      const pem = await exportSPKI(publicKey);
      const keySetFile = await readFile(join(dir, 'sports.jwks.json'));
      const encoder = new TextEncoder();
      const hmacSecrets = [
        encoder.encode(JSON.stringify(publicJwk)),
        encoder.encode(pem),
        new Uint8Array(keySetFile),
      ];

      for (const secret of hmacSecrets) {
        for (const alg of ['HS256', 'HS512']) {
          const token = await new SignJWT(claimsOf(sports))
            .setProtectedHeader({
              alg,
              ...(publicJwk.kid ? { kid: publicJwk.kid } : {}),
            })
            .sign(secret);
          const error = await expectRefused(verifier, token);
          expect(error.message).toContain('algorithm is not accepted');
        }
      }
    });

    it('refuses a malformed token', async () => {
      const verifier = await freshKeys();
      for (const token of ['not-a-jwt', 'a.b.c', '']) {
        await expectRefused(verifier, token);
      }
    });

    it('refuses a realm it has no keys for', async () => {
      const verifier = await freshKeys();
      const token = await issueDevToken(
        { realm: sports, userId: 'alice', roles: ['user'] },
        dir,
      );
      await expectRefused(verifier, token, { ...sports, id: 'nowhere' });
    });
  });

  describe('rotation', () => {
    it('trusts the old and new key after a rotation, and drops the oldest after two', async () => {
      const verifier = await freshKeys();
      const issue = () =>
        issueDevToken({ realm: sports, userId: 'alice', roles: ['user'] }, dir);

      const first = await issue();
      const firstKid = (await publicKeysOf(sports))[0]?.kid;
      const firstKey = await privateKeyOf(sports);

      const secondKid = await rotateDevKey(sports, dir);
      await privateKeyOf(sports);
      const second = await issue();
      expect(secondKid).not.toBe(firstKid);
      expect((await publicKeysOf(sports)).map((k) => k.kid)).toEqual([
        secondKid,
        firstKid,
      ]);

      // The same verifier re-reads the file: no restart.
      await expect(verifier.verify(first, 'sports')).resolves.toBeDefined();
      await expect(verifier.verify(second, 'sports')).resolves.toBeDefined();
      // A token without a kid is tried against every key of the set.
      const noKid = await signWith(firstKey, claimsOf(sports), { kid: null });
      await expect(verifier.verify(noKid, 'sports')).resolves.toBeDefined();

      const thirdKid = await rotateDevKey(sports, dir);
      await privateKeyOf(sports);
      const third = await issue();
      expect((await publicKeysOf(sports)).map((k) => k.kid)).toEqual([
        thirdKid,
        secondKid,
      ]);

      await expectRefused(verifier, first);
      await expectRefused(verifier, noKid);
      await expect(verifier.verify(second, 'sports')).resolves.toBeDefined();
      await expect(verifier.verify(third, 'sports')).resolves.toBeDefined();
    });

    it('picks up a rotated key without a new verifier once the check interval passed', async () => {
      await freshKeys();
      const verifier = await load({ keyFileCheckIntervalMs: 150 });
      // Let the first interval pass, so that the next token checks the file.
      await new Promise((done) => setTimeout(done, 200));
      await rotateDevKey(sports, dir);
      await privateKeyOf(sports);
      const rotated = await issueDevToken(
        { realm: sports, userId: 'alice', roles: ['user'] },
        dir,
      );
      await expect(verifier.verify(rotated, 'sports')).resolves.toBeDefined();

      // Within the interval the file is not read again.
      await rotateDevKey(sports, dir);
      await privateKeyOf(sports);
      const tooSoon = await issueDevToken(
        { realm: sports, userId: 'alice', roles: ['user'] },
        dir,
      );
      await expectRefused(verifier, tooSoon);
      await new Promise((done) => setTimeout(done, 200));
      await expect(verifier.verify(tooSoon, 'sports')).resolves.toBeDefined();
    });

    it('keeps the previous keys when the key set file turns unreadable', async () => {
      const verifier = await freshKeys();
      const token = await issueDevToken(
        { realm: sports, userId: 'alice', roles: ['user'] },
        dir,
      );
      await rm(join(dir, 'sports.jwks.json'));
      await expect(verifier.verify(token, 'sports')).resolves.toBeDefined();
    });

    it('reads a key set from auth.jwksFile, relative to the keys directory', async () => {
      dir = await mkdtemp(join(tmpdir(), 'realm-tokens-'));
      const custom = withAuth(sports, { jwksFile: 'idp/sports-keys.json' });
      await ensureDevKeys([custom], dir);
      const keys = JSON.parse(
        await readFile(join(dir, 'idp/sports-keys.json'), 'utf8'),
      ) as { keys: JWK[] };
      expect(keys.keys).toHaveLength(1);

      const verifier = await RealmTokenVerifier.load([custom], dir);
      const token = await issueDevToken(
        { realm: custom, userId: 'alice', roles: ['user'] },
        dir,
      );
      await expect(verifier.verify(token, 'sports')).resolves.toBeDefined();
    });
  });

  describe('start-up checks', () => {
    it('refuses a jwksUrl that is plain http to another host, naming the realm file', async () => {
      dir = await mkdtemp(join(tmpdir(), 'realm-tokens-'));
      const insecure = withAuth(sports, {
        jwksUrl: 'http://idp.example.com/jwks.json',
      });
      await expect(RealmTokenVerifier.load([insecure], dir)).rejects.toThrow(
        /schema\/realms\/sports\.json: auth\.jwksUrl must use https/,
      );
    });

    it('refuses a jwksFile outside the keys directory, and both sources at once', async () => {
      dir = await mkdtemp(join(tmpdir(), 'realm-tokens-'));
      for (const jwksFile of ['../elsewhere.json', '/etc/keys.json']) {
        await expect(
          RealmTokenVerifier.load([withAuth(sports, { jwksFile })], dir),
        ).rejects.toThrow(/schema\/realms\/sports\.json: auth\.jwksFile/);
      }
      const both = withAuth(sports, {
        jwksFile: 'sports.jwks.json',
        jwksUrl: 'https://idp.example.com/jwks.json',
      });
      await expect(RealmTokenVerifier.load([both], dir)).rejects.toThrow(
        /exclude each other/,
      );
    });

    it('fails when a key set file is missing', async () => {
      dir = await mkdtemp(join(tmpdir(), 'realm-tokens-'));
      await expect(RealmTokenVerifier.load([sports], dir)).rejects.toThrow();
    });
  });
});

describe('realm tokens against a JWKS URL', () => {
  let server: Server;
  let url: string;
  let served: { keys: JWK[] } = { keys: [] };
  let requests = 0;
  let hang = false;

  const makeKey = async (kid: string) => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', {
      extractable: true,
    });
    return {
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' },
      privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
    };
  };

  beforeAll(async () => {
    server = createServer((_request, response) => {
      requests += 1;
      if (hang) return; // never answers: the fetch must time out
      response.setHeader('content-type', 'application/jwk-set+json');
      response.end(JSON.stringify(served));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    url = `http://127.0.0.1:${port}/.well-known/jwks.json`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  });

  afterEach(() => {
    hang = false;
    requests = 0;
  });

  const expectRefused = async (
    verifier: RealmTokenVerifier,
    token: string,
  ): Promise<GraphQLError> => {
    const error = await verifier.verify(token, 'sports').then(
      () => {
        throw new Error('expected the token to be refused');
      },
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(GraphQLError);
    expect((error as GraphQLError).extensions['code']).toBe('UNAUTHENTICATED');
    expect((error as GraphQLError).message).not.toContain(token);
    return error as GraphQLError;
  };

  it('accepts a token of a served key and refuses an unknown kid', async () => {
    const current = await makeKey('idp-1');
    const unknown = await makeKey('idp-unknown');
    served = { keys: [current.publicJwk] };
    const realm = withAuth(sports, { jwksUrl: url });
    const verifier = await RealmTokenVerifier.load([realm], '/nonexistent');

    const good = await signWith(current.privateJwk, claimsOf(sports));
    await expect(verifier.verify(good, 'sports')).resolves.toMatchObject({
      userId: 'alice',
    });
    await expect(verifier.verify(good, 'sports')).resolves.toBeDefined();
    expect(requests).toBe(1); // cached

    const stranger = await signWith(unknown.privateJwk, claimsOf(sports));
    const error = await expectRefused(verifier, stranger);
    expect(error.message).toBe('Token was not signed by a key of this realm.');
    // Within the cooldown an unknown kid does not trigger another fetch.
    await expectRefused(verifier, stranger);
    expect(requests).toBe(1);
  });

  it('fetches again for a new kid after the cooldown (rotation at the provider)', async () => {
    const old = await makeKey('idp-old');
    const next = await makeKey('idp-next');
    served = { keys: [old.publicJwk] };
    const verifier = await RealmTokenVerifier.load(
      [withAuth(sports, { jwksUrl: url })],
      '/nonexistent',
      { jwksCooldownMs: 0 },
    );
    const oldToken = await signWith(old.privateJwk, claimsOf(sports));
    await expect(verifier.verify(oldToken, 'sports')).resolves.toBeDefined();

    served = { keys: [next.publicJwk, old.publicJwk] };
    const nextToken = await signWith(next.privateJwk, claimsOf(sports));
    await expect(verifier.verify(nextToken, 'sports')).resolves.toBeDefined();
    await expect(verifier.verify(oldToken, 'sports')).resolves.toBeDefined();
    expect(requests).toBe(2);
  });

  it('refuses tokens while the JWKS cannot be fetched in time', async () => {
    const key = await makeKey('idp-1');
    hang = true;
    const verifier = await RealmTokenVerifier.load(
      [withAuth(sports, { jwksUrl: url })],
      '/nonexistent',
      { jwksTimeoutMs: 200 },
    );
    const token = await signWith(key.privateJwk, claimsOf(sports));
    const error = await expectRefused(verifier, token);
    expect(error.message).toContain('unavailable');
  });
});

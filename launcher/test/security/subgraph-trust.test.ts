import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBGRAPHS, type SubgraphName } from '@realms/gateway';
import {
  IDENTITY_HEADER,
  IdentitySigner,
  loadInternalSecret,
} from '@realms/platform';
import { startTestSystem, type TestSystem } from '../support/test-system.js';

/*
 * Subgraphs believe only the identity the gateway signed. Each subgraph is
 * called directly, the way an attacker inside the network would, with a
 * positive control first: the same request with a correctly signed
 * identity is served, so a refusal below is the signature check at work
 * and not a request that could never succeed.
 */

const USER = 'trusted-alice';

/** A request only an identified caller may make, per subgraph. */
const OWN_PREFERENCE: Record<SubgraphName, string> = {
  core: '{ myPreferences { id userId } }',
  sports: entityQuery('sports', '{ sports { favoriteTeams } }'),
  entertainment: entityQuery('entertainment', '{ entertainment { genres } }'),
  parks: entityQuery('parks', '{ parks { trip { partySize } } }'),
};

const REALM_OF: Record<SubgraphName, string> = {
  core: 'sports',
  sports: 'sports',
  entertainment: 'entertainment',
  parks: 'parks',
};

function entityQuery(realm: string, selection: string): string {
  return `{ _entities(representations: [{ __typename: "Preference", id: "${realm}:${USER}" }]) { ... on Preference ${selection} } }`;
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** An HS256 token as the gateway would make it, with claims of our choice. */
function handMadeToken(
  secret: string,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'HS256' },
): string {
  const unsigned = `${base64url(header)}.${base64url(claims)}`;
  const signature = createHmac('sha256', secret)
    .update(unsigned)
    .digest('base64url');
  return `${unsigned}.${signature}`;
}

function claims(realm: string, overrides: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return {
    realm,
    rid: 'trust-test',
    roles: ['user'],
    sub: USER,
    iss: 'realms-gateway',
    aud: 'realms-subgraphs',
    iat: now,
    exp: now + 60,
    ...overrides,
  };
}

interface SubgraphAnswer {
  readonly status: number;
  readonly data: Record<string, unknown> | null | undefined;
  readonly codes: unknown[];
}

describe('subgraphs refuse any identity the gateway did not sign', () => {
  let t: TestSystem;
  let secret: string;

  beforeAll(async () => {
    t = await startTestSystem('memory');
    secret = await loadInternalSecret(t.keysDir);
  });
  afterAll(() => t.stop());

  const call = async (
    name: SubgraphName,
    identity: string | null,
  ): Promise<SubgraphAnswer> => {
    const response = await fetch(t.system.subgraphUrls[name], {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(identity === null ? {} : { [IDENTITY_HEADER]: identity }),
      },
      body: JSON.stringify({ query: OWN_PREFERENCE[name] }),
    });
    const body = (await response.json()) as {
      data?: Record<string, unknown> | null;
      errors?: { extensions?: { code?: string } }[];
    };
    return {
      status: response.status,
      data: body.data,
      codes: (body.errors ?? []).map((e) => e.extensions?.code),
    };
  };

  it('serves a correctly signed identity (the control)', async () => {
    for (const { name } of SUBGRAPHS) {
      const realm = REALM_OF[name];
      const signed = await new IdentitySigner(secret).sign({
        identity: { realm, userId: USER, roles: ['user'] },
        realm,
        requestId: 'trust-test',
      });
      const answer = await call(name, signed);
      expect(answer.codes, name).toEqual([]);
      expect(answer.data, name).toBeTruthy();
      // The hand-made token of the cases below passes too: they differ
      // from this one only in what each case breaks.
      const handMade = await call(name, handMadeToken(secret, claims(realm)));
      expect(handMade.codes, name).toEqual([]);
    }
  });

  it('refuses a missing, forged, foreign, expired, future, unsigned or misdirected identity', async () => {
    const now = Math.floor(Date.now() / 1000);
    const otherSecret = randomBytes(32).toString('base64url');
    for (const { name } of SUBGRAPHS) {
      const realm = REALM_OF[name];
      const cases: [string, string | null][] = [
        ['no header', null],
        ['not a token', 'forged'],
        [
          'signed with another secret',
          await new IdentitySigner(otherSecret).sign({
            identity: { realm, userId: USER, roles: ['platform-admin'] },
            realm,
            requestId: 'trust-test',
          }),
        ],
        [
          'expired',
          handMadeToken(
            secret,
            claims(realm, { iat: now - 600, exp: now - 300 }),
          ),
        ],
        [
          'not valid yet',
          handMadeToken(secret, claims(realm, { nbf: now + 300 })),
        ],
        [
          'alg none',
          `${base64url({ alg: 'none' })}.${base64url(claims(realm))}.`,
        ],
        [
          'HS512 instead of HS256',
          (() => {
            const unsigned = `${base64url({ alg: 'HS512' })}.${base64url(claims(realm))}`;
            const signature = createHmac('sha512', secret)
              .update(unsigned)
              .digest('base64url');
            return `${unsigned}.${signature}`;
          })(),
        ],
        [
          'another audience',
          handMadeToken(secret, claims(realm, { aud: 'someone-else' })),
        ],
        [
          'another issuer',
          handMadeToken(secret, claims(realm, { iss: 'realms-edge' })),
        ],
        [
          'signature of other claims',
          (() => {
            const [header, , signature] = handMadeToken(
              secret,
              claims(realm),
            ).split('.');
            const raised = base64url(
              claims(realm, { roles: ['platform-admin'] }),
            );
            return `${header}.${raised}.${signature}`;
          })(),
        ],
      ];
      for (const [label, identity] of cases) {
        const answer = await call(name, identity);
        const context = `${name}: ${label}`;
        expect(answer.codes, context).toEqual(['UNAUTHENTICATED']);
        expect(answer.data ?? null, context).toBeNull();
      }
    }
  });
});

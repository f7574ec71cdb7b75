import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IdentitySigner } from '../../src/identity/forwarded-identity.js';

// The verifier is our own code (not jose), so every way a token can be
// wrong is checked here, beside the end-to-end refusals of
// launcher/test/security/subgraph-trust.test.ts.

const SECRET = 'a-test-secret-that-is-long-enough-0123456789';
const signer = new IdentitySigner(SECRET);

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function token(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'HS256' },
  secret = SECRET,
): string {
  const unsigned = `${encode(header)}.${encode(claims)}`;
  const mac = createHmac('sha256', secret).update(unsigned).digest('base64url');
  return `${unsigned}.${mac}`;
}

function claims(overrides: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return {
    realm: 'sports',
    rid: 'req-1',
    roles: ['user'],
    sub: 'u1',
    iss: 'realms-gateway',
    aud: 'realms-subgraphs',
    iat: now,
    exp: now + 60,
    ...overrides,
  };
}

async function refusal(candidate: string | undefined): Promise<unknown> {
  return signer.verify(candidate).then(
    () => 'accepted',
    (error: { extensions?: { code?: string } }) => error.extensions?.code,
  );
}

describe('IdentitySigner', () => {
  it('verifies what it signed, with every field', async () => {
    const signed = await signer.sign({
      identity: {
        realm: 'parks',
        userId: 'u7',
        roles: ['user', 'realm-admin'],
      },
      realm: 'parks',
      requestId: 'r-9',
      clientAddress: '10.0.0.5',
    });
    await expect(signer.verify(signed)).resolves.toEqual({
      identity: {
        realm: 'parks',
        userId: 'u7',
        roles: ['user', 'realm-admin'],
      },
      realm: 'parks',
      requestId: 'r-9',
      clientAddress: '10.0.0.5',
    });
  });

  it('verifies an anonymous request as one without identity', async () => {
    const signed = await signer.sign({
      identity: null,
      realm: 'sports',
      requestId: 'r-1',
    });
    await expect(signer.verify(signed)).resolves.toEqual({
      identity: null,
      realm: 'sports',
      requestId: 'r-1',
      clientAddress: null,
    });
  });

  it('accepts a hand-made token like the gateway makes, and an audience list', async () => {
    await expect(refusal(token(claims()))).resolves.toBe('accepted');
    await expect(
      refusal(token(claims({ aud: ['other', 'realms-subgraphs'] }))),
    ).resolves.toBe('accepted');
  });

  const now = Math.floor(Date.now() / 1000);
  const valid = token(claims());
  const [header, body, mac] = valid.split('.') as [string, string, string];
  const refused: [string, string | undefined][] = [
    ['no token', undefined],
    ['an empty token', ''],
    ['another secret', token(claims(), undefined, `${SECRET}-other`)],
    [
      'a changed claim, old signature',
      `${header}.${encode(claims({ sub: 'u2' }))}.${mac}`,
    ],
    ['a truncated signature', `${header}.${body}.${mac.slice(0, -2)}`],
    ['no signature', `${header}.${body}.`],
    ['a fourth segment', `${valid}.x`],
    ['two segments', `${header}.${body}`],
    ['alg none', `${encode({ alg: 'none' })}.${body}.`],
    ['HS512', token(claims(), { alg: 'HS512' })],
    ['an extra header field', token(claims(), { alg: 'HS256', typ: 'JWT' })],
    [
      'a body that is not JSON',
      (() => {
        const unsigned = `${header}.${Buffer.from('not json').toString('base64url')}`;
        return `${unsigned}.${createHmac('sha256', SECRET).update(unsigned).digest('base64url')}`;
      })(),
    ],
    [
      'a body that is an array',
      token([] as unknown as Record<string, unknown>),
    ],
    ['expired', token(claims({ iat: now - 600, exp: now - 300 }))],
    ['expiring now', token(claims({ exp: now }))],
    ['no expiry', token(claims({ exp: undefined }))],
    ['an expiry that is a string', token(claims({ exp: String(now + 60) }))],
    ['not yet valid', token(claims({ nbf: now + 300 }))],
    ['another audience', token(claims({ aud: 'someone-else' }))],
    ['another issuer', token(claims({ iss: 'someone-else' }))],
  ];
  it.each(refused)('refuses %s with UNAUTHENTICATED', async (_, candidate) => {
    await expect(refusal(candidate)).resolves.toBe('UNAUTHENTICATED');
  });

  it('refuses a correctly signed token without realm or request id', async () => {
    await expect(refusal(token(claims({ realm: undefined })))).resolves.toBe(
      'UNAUTHENTICATED',
    );
    await expect(refusal(token(claims({ rid: 7 })))).resolves.toBe(
      'UNAUTHENTICATED',
    );
  });

  it('gives no identity for unknown roles or an empty subject', async () => {
    const unknownRole = await signer.verify(token(claims({ roles: ['root'] })));
    expect(unknownRole.identity).toBeNull();
    const noSubject = await signer.verify(token(claims({ sub: '' })));
    expect(noSubject.identity).toBeNull();
  });
});

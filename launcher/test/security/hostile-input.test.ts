import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startTestSystem,
  type Backend,
  type TestSystem,
} from '../support/test-system.js';
import {
  answers,
  callerHeaders,
  leaksIn,
  operation,
  send,
  type HostileResponse,
  type WireError,
} from './hostile-http.js';

/**
 * Hostile input against the real gateway: every attack must end in a clear
 * refusal with a stable code (or the right HTTP status when the transport
 * refuses it), never a 500, never a crash, and never a stored change.
 */

const BODY_LIMIT = 1024 * 1024;
const REALM = 'sports';

const SET = /* GraphQL */ `
  mutation Set($values: [PreferenceValueInput!]!) {
    setPreferences(values: $values) {
      version
      values(keys: ["displayName"]) {
        value
      }
    }
  }
`;

const SET_SPORTS = /* GraphQL */ `
  mutation Sports($input: SportsPreferencesInput!) {
    updateSportsPreferences(input: $input) {
      version
    }
  }
`;

/** Everything a write could have changed, to compare before and after. */
const STORED_STATE = /* GraphQL */ `
  {
    myPreferences {
      id
      version
      updatedAt
      values {
        key
        value
        source
      }
      sports {
        favoriteTeams
        statsUpdateFrequency
        gameAlerts {
          events
          channels
          quietHours {
            start
            end
          }
        }
      }
    }
  }
`;

/** A mutation that would visibly change the stored state if it ran. */
const LOCALE_WRITE =
  'mutation { setPreferences(values: [{ key: "locale", value: "fr-FR" }]) { version } }';

const NORMAL_READ = '{ myPreferences { id version } }';

function errorsOf(response: HostileResponse): WireError[] {
  return response.body?.errors ?? [];
}

function violationsOf(
  response: HostileResponse,
): { key: string | null; rule: string; path: unknown[] }[] {
  const violations = errorsOf(response)[0]?.extensions?.['violations'];
  return Array.isArray(violations)
    ? (violations as { key: string | null; rule: string; path: unknown[] }[])
    : [];
}

/**
 * A refusal as a client must see it: JSON, the expected status, the
 * expected code on every error, no data, and nothing of a server failure.
 */
function expectRefused(
  response: HostileResponse,
  expected: { status: number; code: string; message?: RegExp },
): void {
  expect(response.status).not.toBeGreaterThanOrEqual(500);
  expect(response.body, response.text.slice(0, 300)).toBeDefined();
  const errors = errorsOf(response);
  expect(errors.length).toBeGreaterThan(0);
  for (const error of errors) {
    expect(error.extensions?.['code']).not.toBe('INTERNAL_SERVER_ERROR');
  }
  expect(response.code).toBe(expected.code);
  if (expected.message) expect(errors[0]?.message).toMatch(expected.message);
  expect(response.body?.data ?? null).toBeNull();
  expect(response.status).toBe(expected.status);
}

/**
 * A write refused by validation: a field error (HTTP 200, data null) with
 * BAD_USER_INPUT and its violations, as docs/errors.md describes.
 */
function expectInvalidWrite(
  response: HostileResponse,
  rules: { key: string; rule: string }[],
): void {
  expect(response.status, response.text.slice(0, 300)).toBe(200);
  expect(response.code, response.text.slice(0, 300)).toBe('BAD_USER_INPUT');
  expect(response.body?.data ?? null).toBeNull();
  const seen = violationsOf(response).map((v) => `${v.key}:${v.rule}`);
  for (const { key, rule } of rules) expect(seen).toContain(`${key}:${rule}`);
}

interface Caller {
  readonly url: string;
  readonly realm: string;
  readonly token: string;
}

async function storedState(caller: Caller): Promise<unknown> {
  const response = await operation(caller.url, STORED_STATE, caller);
  expect(response.status).toBe(200);
  expect(response.body?.errors).toBeUndefined();
  return response.body?.data;
}

/** The gateway still answers an ordinary authenticated query. */
async function expectStillServes(caller: Caller): Promise<void> {
  const response = await operation(caller.url, NORMAL_READ, caller);
  expect(response.status).toBe(200);
  expect(response.body?.errors).toBeUndefined();
  expect(response.body?.data).toMatchObject({
    myPreferences: { id: `${caller.realm}:${caller.realm}-mallory` },
  });
}

/**
 * Runs an attack and checks that it stored nothing at all (version and
 * every value as before) and that the gateway still serves afterwards.
 */
async function attackStoresNothing(
  caller: Caller,
  attack: () => Promise<HostileResponse>,
): Promise<HostileResponse> {
  const before = await storedState(caller);
  const response = await attack();
  expect(await storedState(caller)).toEqual(before);
  await expectStillServes(caller);
  return response;
}

/** `depth` nested inline fragments on Query around one real field. */
function nestedInlineFragments(depth: number): string {
  return `{ ${'... on Query { '.repeat(depth)}currentRealm { id }${' }'.repeat(depth)} }`;
}

/** A JSON body whose `values[0].value` is nested `depth` arrays deep. */
function deepJsonValueBody(depth: number): string {
  return (
    `{"query": ${JSON.stringify(SET)}, "variables": {"values": [` +
    `{"key": "displayName", "value": ${'['.repeat(depth)}${']'.repeat(depth)}}]}}`
  );
}

/** JSON headers of an authenticated caller. */
function jsonHeaders(caller: Caller): Record<string, string> {
  return { 'content-type': 'application/json', ...callerHeaders(caller) };
}

describe('hostile query shapes and transport (development)', () => {
  let t: TestSystem;
  let caller: Caller;

  beforeAll(async () => {
    t = await startTestSystem('memory');
    caller = {
      url: t.url,
      realm: REALM,
      token: await t.token(REALM, `${REALM}-mallory`),
    };
  });
  afterAll(() => t.stop());

  describe('depth', () => {
    it('accepts nesting within the limit, so the limit is what refuses', async () => {
      const response = await operation(t.url, nestedInlineFragments(9), caller);
      expect(response.status).toBe(200);
      expect(response.body?.data).toEqual({ currentRealm: { id: REALM } });
    });

    it('refuses inline fragments nested past depth 12', async () => {
      const response = await operation(
        t.url,
        nestedInlineFragments(13),
        caller,
      );
      expectRefused(response, {
        status: 400,
        code: 'GRAPHQL_VALIDATION_FAILED',
        message: /depth limit of 12 exceeded/,
      });
      await expectStillServes(caller);
    });

    it('refuses a chain of named fragments past depth 12', async () => {
      const fragments = Array.from({ length: 14 }, (_, i) =>
        i === 13
          ? `fragment F${i} on Query { currentRealm { id } }`
          : `fragment F${i} on Query { ...F${i + 1} }`,
      );
      const response = await operation(
        t.url,
        `{ ...F0 } ${fragments.join(' ')}`,
        caller,
      );
      expectRefused(response, {
        status: 400,
        code: 'GRAPHQL_VALIDATION_FAILED',
      });
      expect(
        errorsOf(response)
          .map((e) => e.message)
          .join(' '),
      ).toMatch(/depth limit of 12 exceeded/);
      await expectStillServes(caller);
    });
  });

  describe('amplification', () => {
    it('refuses an alias flood (200 aliases of one field)', async () => {
      const aliases = Array.from(
        { length: 200 },
        (_, i) => `a${i}: currentRealm { id }`,
      );
      const response = await operation(
        t.url,
        `{ ${aliases.join(' ')} }`,
        caller,
      );
      expectRefused(response, {
        status: 400,
        code: 'GRAPHQL_VALIDATION_FAILED',
        message: /Aliases limit of 15 exceeded, found 200/,
      });
      await expectStillServes(caller);
    });

    // The token limit is the parser's: a syntax error, refused before any
    // work on the document.
    it('refuses the same field 1000 times (token limit) with a 400', async () => {
      const response = await operation(
        t.url,
        `{ ${'currentRealm { id } '.repeat(1000)}}`,
        caller,
      );
      expectRefused(response, {
        status: 400,
        code: 'GRAPHQL_PARSE_FAILED',
        message: /Document contains more .* 2000 tokens/,
      });
      await expectStillServes(caller);
    });

    it('refuses a fragment bomb that stays under the token limit (cost)', async () => {
      const query = [
        '{ ...L3 }',
        'fragment L0 on Query { realms { definitions { key rules default } } }',
        'fragment L1 on Query { ...L0 ...L0 ...L0 }',
        'fragment L2 on Query { ...L1 ...L1 ...L1 }',
        'fragment L3 on Query { ...L2 ...L2 ...L2 }',
      ].join(' ');
      const response = await operation(t.url, query, caller);
      expectRefused(response, {
        status: 400,
        code: 'GRAPHQL_VALIDATION_FAILED',
        message: /Cost limit of 5000 exceeded/,
      });
      expect(errorsOf(response)).toHaveLength(1);
      await expectStillServes(caller);
    });

    it('refuses directive overloading (@include × 100 on one field)', async () => {
      const response = await operation(
        t.url,
        `{ currentRealm ${'@include(if: true) '.repeat(100)}{ id } }`,
        caller,
      );
      expectRefused(response, {
        status: 400,
        code: 'GRAPHQL_VALIDATION_FAILED',
        message: /Directives limit of 20 exceeded, found 100/,
      });
      for (const error of errorsOf(response)) {
        expect(error.extensions?.['code']).toBe('GRAPHQL_VALIDATION_FAILED');
      }
      await expectStillServes(caller);
    });

    it('refuses a batch of 50 operations in one JSON array', async () => {
      const batch = Array.from({ length: 50 }, () => ({ query: NORMAL_READ }));
      const response = await send(t.url, {
        headers: jsonHeaders(caller),
        body: JSON.stringify(batch),
      });
      expectRefused(response, {
        status: 400,
        code: 'BAD_REQUEST',
        message: /batching disabled/i,
      });
      await expectStillServes(caller);
    });
  });

  describe('fragments', () => {
    it('refuses fragments that spread each other in a circle', async () => {
      const response = await operation(
        t.url,
        '{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }',
        caller,
      );
      expectRefused(response, {
        status: 400,
        code: 'GRAPHQL_VALIDATION_FAILED',
        message: /Cannot spread fragment "A" within itself/,
      });
      await expectStillServes(caller);
    });

    it('refuses a fragment that spreads itself', async () => {
      const response = await operation(
        t.url,
        '{ ...A } fragment A on Query { currentRealm { id } ...A }',
        caller,
      );
      expectRefused(response, {
        status: 400,
        code: 'GRAPHQL_VALIDATION_FAILED',
        message: /within itself/,
      });
      await expectStillServes(caller);
    });
  });

  describe('malformed requests', () => {
    it('refuses a body over 1 MiB with 413, by its declared length', async () => {
      const body = JSON.stringify({
        query: NORMAL_READ,
        variables: { padding: 'x'.repeat(BODY_LIMIT + 1) },
      });
      const response = await send(t.url, {
        headers: jsonHeaders(caller),
        body,
      });
      expectRefused(response, { status: 413, code: 'BAD_REQUEST' });
      await expectStillServes(caller);
    });

    it('refuses a chunked body over 1 MiB with 413, by counting', async () => {
      const body = JSON.stringify({
        query: NORMAL_READ,
        variables: { padding: 'x'.repeat(BODY_LIMIT + 1) },
      });
      const response = await send(t.url, {
        headers: jsonHeaders(caller),
        body,
        chunked: true,
      });
      expectRefused(response, { status: 413, code: 'BAD_REQUEST' });
      await expectStillServes(caller);
    });

    it('refuses a body that is not JSON with 400 BAD_REQUEST', async () => {
      for (const body of [
        '{"query": ',
        '{query: "{ __typename }"}',
        '\u0000',
      ]) {
        const response = await send(t.url, {
          headers: jsonHeaders(caller),
          body,
        });
        expectRefused(response, {
          status: 400,
          code: 'BAD_REQUEST',
          message: /not valid JSON/,
        });
      }
      await expectStillServes(caller);
    });

    it('refuses JSON of the wrong shape with 400 BAD_REQUEST', async () => {
      for (const body of [
        '"a string"',
        'null',
        '{}',
        '{"query": 42}',
        '{"query": "{ __typename }", "variables": "not an object"}',
      ]) {
        const response = await send(t.url, {
          headers: jsonHeaders(caller),
          body,
        });
        expectRefused(response, { status: 400, code: 'BAD_REQUEST' });
      }
      await expectStillServes(caller);
    });

    it('refuses malformed GraphQL with 400 GRAPHQL_PARSE_FAILED', async () => {
      for (const query of [
        '{ currentRealm { id ',
        'query { currentRealm { id } } }',
        'mutation { setPreferences(values: [{ key: "locale", value: }]) { version } }',
      ]) {
        const response = await operation(t.url, query, caller);
        expectRefused(response, {
          status: 400,
          code: 'GRAPHQL_PARSE_FAILED',
          message: /Syntax Error/,
        });
      }
      await expectStillServes(caller);
    });

    it('refuses a query of invalid UTF-8 bytes with a 400', async () => {
      const body = Buffer.concat([
        Buffer.from('{"query": "'),
        Buffer.from([0xff, 0xfe, 0xc3]),
        Buffer.from('"}'),
      ]);
      const response = await send(t.url, {
        headers: jsonHeaders(caller),
        body,
      });
      expect(response.status).toBe(400);
      expect(['BAD_REQUEST', 'GRAPHQL_PARSE_FAILED']).toContain(response.code);
      await expectStillServes(caller);
    });

    // Persisted-query refusals keep Apollo's codes (PERSISTED_QUERY_NOT_FOUND
    // tells the client to resend with the query); the code-less ones
    // (hash mismatch, unknown version) are the client's doing: BAD_REQUEST.
    it('refuses bogus persisted-query extensions with a client error code', async () => {
      const hashOnly = await send(t.url, {
        headers: jsonHeaders(caller),
        body: JSON.stringify({
          extensions: {
            persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) },
          },
        }),
      });
      expect(hashOnly.code).not.toBe('INTERNAL_SERVER_ERROR');
      for (const persistedQuery of [
        { version: 1, sha256Hash: 'not-the-hash' },
        { version: 2, sha256Hash: 'a'.repeat(64) },
      ]) {
        const response = await send(t.url, {
          headers: jsonHeaders(caller),
          body: JSON.stringify({
            query: NORMAL_READ,
            extensions: { persistedQuery },
          }),
        });
        expectRefused(response, { status: 400, code: 'BAD_REQUEST' });
      }
      await expectStillServes(caller);
    });
  });

  it('still answers a normal authenticated query after every attack', async () => {
    await expectStillServes(caller);
  });
});

describe.each<Backend>(['memory', 'redis'])(
  'hostile writes store nothing (%s state)',
  (backend) => {
    let t: TestSystem;
    let caller: Caller;

    beforeAll(async () => {
      t = await startTestSystem(backend);
      caller = {
        url: t.url,
        realm: REALM,
        token: await t.token(REALM, `${REALM}-mallory`),
      };
      // A stored value first, so "nothing stored" also means "nothing lost".
      const seeded = await operation(t.url, SET, {
        ...caller,
        variables: {
          values: [
            { key: 'displayName', value: 'Mallory' },
            { key: 'locale', value: 'en-GB' },
          ],
        },
      });
      expect(seeded.body?.errors).toBeUndefined();
    });
    afterAll(() => t.stop());

    describe('request forgery', () => {
      it('refuses a mutation over GET, even with the preflight header', async () => {
        const search = `?query=${encodeURIComponent(LOCALE_WRITE)}`;
        const preflighted = await attackStoresNothing(caller, () =>
          send(t.url, {
            method: 'GET',
            search,
            headers: {
              'apollo-require-preflight': 'true',
              ...callerHeaders(caller),
            },
          }),
        );
        expectRefused(preflighted, {
          status: 405,
          code: 'BAD_REQUEST',
          message: /GET requests only support query operations/,
        });
        expect(preflighted.headers['allow']).toBe('POST');

        const plain = await attackStoresNothing(caller, () =>
          send(t.url, {
            method: 'GET',
            search,
            headers: callerHeaders(caller),
          }),
        );
        expectRefused(plain, {
          status: 400,
          code: 'BAD_REQUEST',
          message: /Cross-Site Request Forgery/,
        });
      });

      it('refuses a GET that picks the mutation of a two-operation document', async () => {
        const document = `query Q { __typename } ${LOCALE_WRITE.replace('mutation', 'mutation M')}`;
        const response = await attackStoresNothing(caller, () =>
          send(t.url, {
            method: 'GET',
            search: `?operationName=M&query=${encodeURIComponent(document)}`,
            headers: {
              'apollo-require-preflight': 'true',
              ...callerHeaders(caller),
            },
          }),
        );
        expectRefused(response, { status: 405, code: 'BAD_REQUEST' });
      });

      it.each([
        ['text/plain', JSON.stringify({ query: LOCALE_WRITE })],
        [
          'application/x-www-form-urlencoded',
          `query=${encodeURIComponent(LOCALE_WRITE)}`,
        ],
        [
          'multipart/form-data; boundary=x',
          `--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n${LOCALE_WRITE}\r\n--x--\r\n`,
        ],
      ])('refuses a %s POST as a possible CSRF', async (contentType, body) => {
        const response = await attackStoresNothing(caller, () =>
          send(t.url, {
            headers: { ...callerHeaders(caller), 'content-type': contentType },
            body,
          }),
        );
        expectRefused(response, {
          status: 400,
          code: 'BAD_REQUEST',
          message: /Cross-Site Request Forgery/,
        });

        // With the preflight header it is no CSRF, but still not JSON.
        const preflighted = await attackStoresNothing(caller, () =>
          send(t.url, {
            headers: {
              ...callerHeaders(caller),
              'content-type': contentType,
              'apollo-require-preflight': 'true',
            },
            body,
          }),
        );
        expectRefused(preflighted, { status: 400, code: 'BAD_REQUEST' });
      });

      it('refuses a batch of 50 mutations', async () => {
        const batch = Array.from({ length: 50 }, () => ({
          query: LOCALE_WRITE,
        }));
        const response = await attackStoresNothing(caller, () =>
          send(t.url, {
            headers: jsonHeaders(caller),
            body: JSON.stringify(batch),
          }),
        );
        expectRefused(response, { status: 400, code: 'BAD_REQUEST' });
      });

      it('refuses an oversized write body with 413', async () => {
        const response = await attackStoresNothing(caller, () =>
          send(t.url, {
            headers: jsonHeaders(caller),
            body: JSON.stringify({
              query: SET,
              variables: {
                values: [
                  { key: 'locale', value: 'fr-FR' },
                  { key: 'displayName', value: 'x'.repeat(BODY_LIMIT) },
                ],
              },
            }),
          }),
        );
        expectRefused(response, { status: 413, code: 'BAD_REQUEST' });
      });

      it('refuses a write in a document that does not parse', async () => {
        const response = await attackStoresNothing(caller, () =>
          operation(t.url, `${LOCALE_WRITE} }`, caller),
        );
        expect(response.status).not.toBeGreaterThanOrEqual(500);
        expect(response.code).toBe('GRAPHQL_PARSE_FAILED');
      });
    });

    describe('oversized and wrongly typed values', () => {
      it('refuses a string of about 1 MB (under the body limit) as displayName', async () => {
        const body = JSON.stringify({
          query: SET,
          variables: {
            values: [
              { key: 'locale', value: 'fr-FR' },
              { key: 'displayName', value: 'x'.repeat(BODY_LIMIT - 10_000) },
            ],
          },
        });
        expect(Buffer.byteLength(body)).toBeLessThan(BODY_LIMIT);
        expect(Buffer.byteLength(body)).toBeGreaterThan(BODY_LIMIT - 11_000);
        const response = await attackStoresNothing(caller, () =>
          send(t.url, { headers: jsonHeaders(caller), body }),
        );
        expectInvalidWrite(response, [
          { key: 'displayName', rule: 'maxLength' },
        ]);
        expect(violationsOf(response)).toHaveLength(1);
        // The refusal does not echo the megabyte back.
        expect(response.text.length).toBeLessThan(10_000);
      });

      it('refuses a number as locale, an object as theme and 10,000 channels', async () => {
        const response = await attackStoresNothing(caller, () =>
          operation(t.url, SET, {
            ...caller,
            variables: {
              values: [
                { key: 'locale', value: 42 },
                { key: 'theme', value: { dark: true } },
                {
                  key: 'notifications.channels',
                  value: Array.from({ length: 10_000 }, () => 'email'),
                },
                { key: 'displayName', value: 'Valid Name' },
              ],
            },
          }),
        );
        expectInvalidWrite(response, [
          { key: 'locale', rule: 'type' },
          { key: 'theme', rule: 'type' },
          { key: 'notifications.channels', rule: 'maxItems' },
        ]);
        expect(violationsOf(response).map((v) => v.path[1])).not.toContain(3);
      });

      it('refuses 10,000 distinct invalid channels', async () => {
        const response = await attackStoresNothing(caller, () =>
          operation(t.url, SET, {
            ...caller,
            variables: {
              values: [
                {
                  key: 'notifications.channels',
                  value: Array.from({ length: 10_000 }, (_, i) => `c${i}`),
                },
              ],
            },
          }),
        );
        expectInvalidWrite(response, [
          { key: 'notifications.channels', rule: 'maxItems' },
          { key: 'notifications.channels', rule: 'enum' },
        ]);
      });

      it('refuses 10,000 favourite teams through the division mutation', async () => {
        const response = await attackStoresNothing(caller, () =>
          operation(t.url, SET_SPORTS, {
            ...caller,
            variables: {
              input: {
                favoriteTeams: Array.from(
                  { length: 10_000 },
                  (_, i) => `team-${i}`,
                ),
              },
            },
          }),
        );
        expect(response.status).toBe(200);
        expect(response.code).toBe('BAD_USER_INPUT');
        expect(violationsOf(response).map((v) => v.rule)).toContain('maxItems');
      });

      it('refuses wrongly typed division input before it reaches a resolver', async () => {
        const response = await attackStoresNothing(caller, () =>
          operation(t.url, SET_SPORTS, {
            ...caller,
            variables: {
              input: { statsUpdateFrequency: 42, favoriteTeams: { a: 1 } },
            },
          }),
        );
        expectRefused(response, { status: 400, code: 'BAD_USER_INPUT' });
      });

      // Nesting beyond 32 levels is refused before anything parses it
      // further: thousands of levels would overflow the stack wherever the
      // value is serialised again (forwarding it to a subgraph, say).
      it('refuses a JSON value nested 5,000 levels deep', async () => {
        for (const depth of [1_000, 5_000, 50_000]) {
          const response = await attackStoresNothing(caller, () =>
            send(t.url, {
              headers: jsonHeaders(caller),
              body: deepJsonValueBody(depth),
            }),
          );
          expect(response.status, `depth ${depth}`).not.toBeGreaterThanOrEqual(
            500,
          );
          expect(response.status, `depth ${depth}`).toBe(400);
          expect(response.code, `depth ${depth}`).toBe('BAD_REQUEST');
        }
      });
    });

    describe('unicode and control characters in displayName', () => {
      it.each([
        ['NUL', 'Mal\u0000lory'],
        ['BEL', 'Mal\u0007lory'],
        ['escape', 'Mal\u001b[31mlory'],
        ['newline', 'Mal\nlory'],
        ['DEL', 'Mal\u007flory'],
        ['C1 control', 'Mal\u0085lory'],
      ])('refuses a %s control character', async (_name, value) => {
        const response = await attackStoresNothing(caller, () =>
          operation(t.url, SET, {
            ...caller,
            variables: {
              values: [
                { key: 'locale', value: 'fr-FR' },
                { key: 'displayName', value },
              ],
            },
          }),
        );
        expectInvalidWrite(response, [{ key: 'displayName', rule: 'pattern' }]);
        expect(violationsOf(response)).toHaveLength(1);
      });

      it.each([
        ['emoji', 'Mallory 🎉👩‍👩‍👧'],
        ['combining marks', 'Mallo\u0301ry Z\u0351\u0352\u0353'],
        ['right-to-left script', 'مالوري'],
        ['CJK', 'マロリー'],
      ])('accepts %s and reads it back unchanged', async (_name, value) => {
        const response = await operation(t.url, SET, {
          ...caller,
          variables: { values: [{ key: 'displayName', value }] },
        });
        expect(response.status).toBe(200);
        expect(response.body?.errors).toBeUndefined();
        const read = await operation(
          t.url,
          '{ myPreferences { values(keys: ["displayName"]) { value } } }',
          caller,
        );
        expect(read.body?.data).toEqual({
          myPreferences: { values: [{ value }] },
        });
      });

      it.each([
        ['a lone surrogate', 'Mal\ud800lory'],
        ['a right-to-left override', 'Mal\u202Elory'],
        ['a left-to-right isolate', 'Mal\u2066lory'],
      ])('refuses %s, which can disguise a name', async (_name, value) => {
        // JSON.stringify writes a lone surrogate as the escape \ud800.
        const body = JSON.stringify({
          query: SET,
          variables: { values: [{ key: 'displayName', value }] },
        });
        const response = await attackStoresNothing(caller, () =>
          send(t.url, { headers: jsonHeaders(caller), body }),
        );
        expectInvalidWrite(response, [{ key: 'displayName', rule: 'pattern' }]);
        await expectStillServes(caller);
      });
    });

    describe('prototype pollution', () => {
      /** A setPreferences body with `valueJson` spliced in verbatim. */
      function rawSet(valueJson: string, extraVariables = ''): string {
        return (
          `{"query": ${JSON.stringify(SET)}, "variables": {${extraVariables}` +
          `"values": [{"key": "locale", "value": "fr-FR"}, ` +
          `{"key": "notifications.quietHours", "value": ${valueJson}}]}}`
        );
      }

      function expectPrototypeClean(): void {
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
        expect(Object.prototype).not.toHaveProperty('polluted');
        expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain(
          'polluted',
        );
      }

      it.each([
        ['__proto__', '{"__proto__": {"polluted": true}}'],
        [
          '__proto__ beside valid hours',
          '{"start": "22:00", "end": "07:00", "__proto__": {"polluted": true}}',
        ],
        [
          'constructor.prototype',
          '{"constructor": {"prototype": {"polluted": true}}}',
        ],
        [
          'constructor.prototype beside valid hours',
          '{"start": "22:00", "end": "07:00", "constructor": {"prototype": {"polluted": true}}}',
        ],
      ])('refuses %s in a variable', async (_name, valueJson) => {
        const response = await attackStoresNothing(caller, () =>
          send(t.url, {
            headers: jsonHeaders(caller),
            body: rawSet(valueJson),
          }),
        );
        expectInvalidWrite(response, [
          { key: 'notifications.quietHours', rule: 'additionalProperties' },
        ]);
        expectPrototypeClean();
      });

      it('refuses __proto__ at the root of the variables and in a value', async () => {
        const response = await attackStoresNothing(caller, () =>
          send(t.url, {
            headers: jsonHeaders(caller),
            body: rawSet(
              '{"start": "22:00", "end": "07:00", "__proto__": {"polluted": true}}',
              '"__proto__": {"polluted": true}, ',
            ),
          }),
        );
        expectInvalidWrite(response, [
          { key: 'notifications.quietHours', rule: 'additionalProperties' },
        ]);
        expectPrototypeClean();
      });

      it.each([
        [
          '__proto__',
          '{ start: "22:00", end: "07:00", __proto__: { polluted: true } }',
        ],
        [
          'constructor.prototype',
          '{ start: "22:00", end: "07:00", constructor: { prototype: { polluted: true } } }',
        ],
      ])('refuses %s in an operation literal', async (_name, literal) => {
        const response = await attackStoresNothing(caller, () =>
          operation(
            t.url,
            `mutation { setPreferences(values: [{ key: "locale", value: "fr-FR" }, { key: "notifications.quietHours", value: ${literal} }]) { version } }`,
            caller,
          ),
        );
        expectInvalidWrite(response, [
          { key: 'notifications.quietHours', rule: 'additionalProperties' },
        ]);
        expectPrototypeClean();
      });

      it('refuses __proto__ in a typed division input', async () => {
        const response = await attackStoresNothing(caller, () =>
          send(t.url, {
            headers: jsonHeaders(caller),
            body:
              `{"query": ${JSON.stringify(SET_SPORTS)}, "variables": {"input": ` +
              `{"favoriteTeams": ["harbor-hawks"], "gameAlerts": {"quietHours": ` +
              `{"start": "22:00", "end": "07:00", "__proto__": {"polluted": true}}}}}}`,
          }),
        );
        expectRefused(response, { status: 400, code: 'BAD_USER_INPUT' });
        expectPrototypeClean();
      });

      it('leaves the read side unpolluted too', async () => {
        const read = await operation(
          t.url,
          '{ myPreferences { values(keys: ["notifications.quietHours"]) { value source } } }',
          caller,
        );
        expect(read.body?.data).toEqual({
          myPreferences: {
            values: [{ value: null, source: 'GLOBAL_DEFAULT' }],
          },
        });
        expectPrototypeClean();
      });
    });

    it('still answers a normal authenticated query after every attack', async () => {
      await expectStillServes(caller);
    });
  },
);

describe('production mode', () => {
  let t: TestSystem;
  let caller: Caller;

  beforeAll(async () => {
    t = await startTestSystem('memory', { production: true });
    caller = {
      url: t.url,
      realm: REALM,
      token: await t.token(REALM, `${REALM}-mallory`),
    };
  });
  afterAll(() => t.stop());

  it.each([
    ['a field', '{ currentRelm { id } }'],
    ['a nested field', '{ myPreferences { verson } }'],
    ['an argument', '{ myPreferences { values(kyes: ["locale"]) { key } } }'],
    ['a type condition', '{ ... on Quer { __typename } }'],
    [
      'an input field',
      'mutation { setPreferences(values: [{ ky: "theme", value: "dark" }]) { version } }',
    ],
    // graphql-js words enum suggestions `Did you mean the enum value …?`;
    // production hides those too.
    [
      'an enum value',
      'mutation { setPreferences(values: [{ key: "theme", value: "dark", scope: GLOBL }]) { version } }',
    ],
  ])('gives no suggestion for a typo in %s', async (_name, query) => {
    const response = await operation(t.url, query, caller);
    expectRefused(response, {
      status: 400,
      code: 'GRAPHQL_VALIDATION_FAILED',
    });
    for (const error of errorsOf(response)) {
      expect(error.message).not.toMatch(/did you mean/i);
    }
    expect(response.text).not.toMatch(/currentRealm|"version"|GLOBAL\b/);
  });

  it.each([
    ['__schema', '{ __schema { types { name } } }'],
    ['__type', '{ __type(name: "Preference") { fields { name } } }'],
    [
      '__schema beside data',
      '{ currentRealm { id } __schema { queryType { name } } }',
    ],
  ])('refuses introspection through %s', async (_name, query) => {
    for (const options of [caller, {}]) {
      const response = await operation(t.url, query, options);
      expectRefused(response, {
        status: 400,
        code: 'GRAPHQL_VALIDATION_FAILED',
        message: /introspection is not allowed/,
      });
    }
    await expectStillServes(caller);
  });

  it('refuses the same attacks as in development, with nothing stored', async () => {
    const depth = await operation(t.url, nestedInlineFragments(13), caller);
    expectRefused(depth, { status: 400, code: 'GRAPHQL_VALIDATION_FAILED' });

    const aliases = await operation(
      t.url,
      `{ ${Array.from({ length: 200 }, (_, i) => `a${i}: currentRealm { id }`).join(' ')} }`,
      caller,
    );
    expectRefused(aliases, { status: 400, code: 'GRAPHQL_VALIDATION_FAILED' });

    const circular = await operation(
      t.url,
      '{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }',
      caller,
    );
    expectRefused(circular, {
      status: 400,
      code: 'GRAPHQL_VALIDATION_FAILED',
    });

    const notJson = await send(t.url, {
      headers: jsonHeaders(caller),
      body: '{"query": ',
    });
    expectRefused(notJson, { status: 400, code: 'BAD_REQUEST' });

    const oversized = await send(t.url, {
      headers: jsonHeaders(caller),
      body: JSON.stringify({ query: 'x'.repeat(BODY_LIMIT + 1) }),
    });
    expectRefused(oversized, { status: 413, code: 'BAD_REQUEST' });

    const invalid = await attackStoresNothing(caller, () =>
      operation(t.url, SET, {
        ...caller,
        variables: {
          values: [
            { key: 'locale', value: 'fr-FR' },
            { key: 'displayName', value: 'Mal\u0000lory' },
          ],
        },
      }),
    );
    expectInvalidWrite(invalid, [{ key: 'displayName', rule: 'pattern' }]);

    const csrf = await attackStoresNothing(caller, () =>
      send(t.url, {
        headers: { ...callerHeaders(caller), 'content-type': 'text/plain' },
        body: JSON.stringify({ query: LOCALE_WRITE }),
      }),
    );
    expectRefused(csrf, { status: 400, code: 'BAD_REQUEST' });
  });

  // The failures here are the same bugs as in development (500s), seen in
  // production; they are also sent through the leak check below.
  it('refuses a token flood, a syntax error and a deep JSON value without a server error', async () => {
    const flood = await operation(
      t.url,
      `{ ${'currentRealm { id } '.repeat(1000)}}`,
      caller,
    );
    const syntax = await operation(t.url, '{ currentRealm { id ', caller);
    const deep = await attackStoresNothing(caller, () =>
      send(t.url, {
        headers: jsonHeaders(caller),
        body: deepJsonValueBody(5_000),
      }),
    );
    expect({
      flood: [flood.status, flood.code],
      syntax: [syntax.status, syntax.code],
      deep: [deep.status, deep.code],
    }).toEqual({
      flood: [400, 'GRAPHQL_PARSE_FAILED'],
      syntax: [400, 'GRAPHQL_PARSE_FAILED'],
      deep: [400, 'BAD_REQUEST'],
    });
  });

  it('still answers a normal authenticated query after every attack', async () => {
    await expectStillServes(caller);
  });
});

// Runs last: looks through every answer the suite received.
describe('every answer of the suite', () => {
  it('was received at all (the checks below are not vacuous)', () => {
    expect(answers.length).toBeGreaterThan(100);
  });

  it('is checked with patterns that do catch a leak', () => {
    expect(
      leaksIn('{"message":"x\\n    at f (/work/main/a.ts:1:1)"}'),
    ).toHaveLength(2);
    expect(leaksIn('{"extensions":{"stacktrace":["Error"]}}')).toHaveLength(1);
    expect(leaksIn('"    at Object.<anonymous> (node:internal)"')).toHaveLength(
      1,
    );
    expect(leaksIn('connect ECONNREFUSED 127.0.0.1:4001')).toHaveLength(1);
    expect(leaksIn('/app/node_modules/graphql/index.js')).toHaveLength(1);
    expect(leaksIn('{"data":{"myPreferences":{"version":3}}}')).toEqual([]);
  });

  it('holds no stack trace, server path or internal address', () => {
    const leaking = answers
      .map((a) => ({ label: a.label, leaks: leaksIn(a.text) }))
      .filter((a) => a.leaks.length > 0);
    expect(leaking).toEqual([]);
  });

  it('was never a server error', () => {
    const failures = answers
      .filter(
        (a) =>
          a.status >= 500 || a.text.includes('"code":"INTERNAL_SERVER_ERROR"'),
      )
      .map(
        (a) => `${a.status} ${a.label} ${a.text.split('\n')[1]?.slice(0, 120)}`,
      );
    expect(failures).toEqual([]);
  });
});

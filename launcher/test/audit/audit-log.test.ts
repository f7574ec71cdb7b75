import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadInternalSecret,
  type RedisPreferenceStore,
} from '@realms/platform';
import {
  graphql,
  REDIS_URL,
  startTestSystem,
  type TestSystem,
} from '../support/test-system.js';

/*
 * The audit log end to end: writes through the real gateway, over Redis,
 * each recorded with who, what, from where and how it ended, and read
 * back through the gateway.
 */

const SET = /* GraphQL */ `
  mutation ($values: [PreferenceValueInput!]!, $id: ID) {
    setPreferences(values: $values, id: $id) {
      version
    }
  }
`;

const UPDATE_SPORTS = /* GraphQL */ `
  mutation ($input: SportsPreferencesInput!) {
    updateSportsPreferences(input: $input) {
      version
    }
  }
`;

const AUDIT = /* GraphQL */ `
  query ($realm: ID, $actor: String, $first: Int) {
    auditLog(realm: $realm, actor: $actor, first: $first) {
      entries {
        id
        at
        realmId
        actor
        actorRoles
        target
        outcome
        changes {
          key
          layer
          before
          after
        }
        requestId
        clientAddress
        errorCode
      }
      nextCursor
    }
  }
`;

interface Entry {
  realmId: string;
  actor: string;
  actorRoles: string[];
  target: string;
  outcome: string;
  changes: { key: string; layer: string; before: unknown; after: unknown }[];
  requestId: string;
  clientAddress: string | null;
  errorCode: string | null;
}

const LOOPBACK = ['127.0.0.1', '::1', '::ffff:127.0.0.1'];

describe('the audit log through the gateway', () => {
  let t: TestSystem;
  let tokens: { alice: string; ops: string; root: string; bob: string };

  beforeAll(async () => {
    t = await startTestSystem('redis', { trustedProxies: LOOPBACK });
    tokens = {
      alice: await t.token('sports', 'alice'),
      bob: await t.token('sports', 'bob'),
      ops: await t.token('sports', 'ops', ['realm-admin']),
      root: await t.token('sports', 'root', ['platform-admin']),
    };
  });
  afterAll(() => t.stop());

  /** Runs an operation in the sports realm with a request id of ours. */
  const send = (
    query: string,
    token: string,
    requestId: string,
    variables: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) =>
    graphql(t.url, query, {
      realm: 'sports',
      token,
      variables,
      headers: { 'x-request-id': requestId, ...headers },
    });

  async function sportsLog(): Promise<Entry[]> {
    const response = await send(AUDIT, tokens.root, 'read-log', {
      realm: 'sports',
      first: 200,
    });
    expect(response.errors).toBeUndefined();
    return (response.data?.['auditLog'] as { entries: Entry[] }).entries;
  }

  it('records user, admin and refused writes with who, what and where', async () => {
    const own = await send(SET, tokens.alice, 'req-user', {
      values: [{ key: 'locale', value: 'fr-FR' }],
    });
    expect(own.errors).toBeUndefined();
    const division = await send(UPDATE_SPORTS, tokens.alice, 'req-division', {
      input: { favoriteTeams: ['harbor-hawks'] },
    });
    expect(division.errors).toBeUndefined();
    const admin = await send(SET, tokens.ops, 'req-admin', {
      id: 'sports:alice',
      values: [{ key: 'locale', value: 'de-DE', scope: 'REALM' }],
    });
    expect(admin.errors).toBeUndefined();
    const refused = await send(SET, tokens.alice, 'req-forbidden', {
      id: 'sports:bob',
      values: [{ key: 'locale', value: 'it-IT' }],
    });
    expect(refused.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');

    const byRequest = new Map((await sportsLog()).map((e) => [e.requestId, e]));
    expect(byRequest.get('req-user')).toMatchObject({
      realmId: 'sports',
      actor: 'alice',
      actorRoles: ['user'],
      target: 'sports:alice',
      outcome: 'ACCEPTED',
      changes: [
        { key: 'locale', layer: 'GLOBAL', before: null, after: 'fr-FR' },
      ],
      errorCode: null,
    });
    expect(byRequest.get('req-division')).toMatchObject({
      actor: 'alice',
      actorRoles: ['user'],
      outcome: 'ACCEPTED',
      changes: [
        {
          key: 'sports.favoriteTeams',
          layer: 'REALM',
          before: null,
          after: ['harbor-hawks'],
        },
      ],
    });
    expect(byRequest.get('req-admin')).toMatchObject({
      actor: 'ops',
      actorRoles: ['realm-admin'],
      target: 'sports:alice',
      outcome: 'ACCEPTED',
      changes: [
        { key: 'locale', layer: 'REALM', before: null, after: 'de-DE' },
      ],
    });
    expect(byRequest.get('req-forbidden')).toMatchObject({
      actor: 'alice',
      actorRoles: ['user'],
      target: 'sports:bob',
      outcome: 'FORBIDDEN',
      changes: [],
      errorCode: 'FORBIDDEN',
    });
    for (const id of [
      'req-user',
      'req-division',
      'req-admin',
      'req-forbidden',
    ]) {
      expect(LOOPBACK).toContain(byRequest.get(id)?.clientAddress);
    }
  });

  it('takes the address from X-Forwarded-For of a trusted proxy', async () => {
    // The test talks from loopback, trusted as a proxy here.
    await send(
      SET,
      tokens.bob,
      'req-proxied',
      { values: [{ key: 'locale', value: 'es-ES' }] },
      { 'x-forwarded-for': '203.0.113.50, 10.0.0.2' },
    );
    const entry = (await sportsLog()).find(
      (e) => e.requestId === 'req-proxied',
    );
    expect(entry?.clientAddress).toBe('203.0.113.50');
  });

  it('lets a realm admin read their realm only, and no user at all', async () => {
    const mine = await send(AUDIT, tokens.ops, 'read-own', { first: 5 });
    expect(mine.errors).toBeUndefined();
    const other = await send(AUDIT, tokens.ops, 'read-other', {
      realm: 'parks',
    });
    expect(other.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    const asUser = await send(AUDIT, tokens.alice, 'read-user');
    expect(asUser.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
  });

  it('merges every realm for a platform admin, page by page, each entry once', async () => {
    // Writes in three realms, by users of each, interleaved in time.
    const realms = ['sports', 'parks', 'entertainment'] as const;
    const writers: Record<string, string> = {};
    for (const realm of realms) {
      writers[realm] = await t.token(realm, 'merge-writer');
    }
    for (let round = 0; round < 4; round++) {
      for (const realm of realms) {
        const response = await graphql(t.url, SET, {
          realm,
          token: writers[realm] as string,
          variables: {
            values: [{ key: 'displayName', value: `${realm} ${round}` }],
          },
        });
        expect(response.errors).toBeUndefined();
      }
    }

    const MERGED = /* GraphQL */ `
      query ($actor: String, $first: Int, $after: String) {
        auditLog(allRealms: true, actor: $actor, first: $first, after: $after) {
          entries {
            id
            realmId
            changes {
              after
            }
          }
          nextCursor
        }
      }
    `;
    type Page = {
      entries: { id: string; realmId: string; changes: { after: unknown }[] }[];
      nextCursor: string | null;
    };
    const seen: Page['entries'] = [];
    let after: string | null = null;
    for (let page = 0; page < 20; page++) {
      const response = await send(MERGED, tokens.root, `merged-${page}`, {
        actor: 'merge-writer',
        first: 5,
        after,
      });
      expect(response.errors, JSON.stringify(response)).toBeUndefined();
      const { entries, nextCursor } = response.data?.['auditLog'] as Page;
      seen.push(...entries);
      after = nextCursor;
      if (after === null) break;
    }
    expect(after).toBeNull();
    expect(seen).toHaveLength(12);
    expect(new Set(seen.map((e) => `${e.realmId}/${e.id}`)).size).toBe(12);
    // Newest first across realms: the last round's writes come first.
    expect(seen.map((e) => e.changes[0]?.after)).toEqual(
      [3, 2, 1, 0].flatMap((round) =>
        [...realms].reverse().map((realm) => `${realm} ${round}`),
      ),
    );

    // Only platform admins, and not together with one realm.
    for (const token of [tokens.ops, tokens.alice]) {
      const refused = await send(MERGED, token, 'merged-refused');
      expect(refused.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    }
    const both = await send(
      'query { auditLog(allRealms: true, realm: "parks") { nextCursor } }',
      tokens.root,
      'merged-both',
    );
    expect(both.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    const foreign = await send(MERGED, tokens.root, 'merged-bad-cursor', {
      after: '1-0@casino',
    });
    expect(foreign.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
  });

  it('holds no token and no secret', async () => {
    const secret = await loadInternalSecret(t.keysDir);
    const served = JSON.stringify(await sportsLog());
    const store = t.system.state.store as RedisPreferenceStore;
    const redis = new Redis(REDIS_URL);
    const stored = JSON.stringify(
      await redis.xrange(store.auditKey('sports'), '-', '+'),
    );
    redis.disconnect();

    expect(stored).toContain('req-forbidden');
    for (const text of [served, stored]) {
      for (const token of Object.values(tokens)) {
        expect(text).not.toContain(token);
        // Nor any part of one: its signature, or its payload.
        for (const part of token.split('.')) expect(text).not.toContain(part);
      }
      expect(text).not.toContain(secret);
    }
  });
});

describe('the client address without a trusted proxy', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('memory', { trustedProxies: [] });
  });
  afterAll(() => t.stop());

  it("ignores a client's own X-Forwarded-For", async () => {
    const token = await t.token('sports', 'carol');
    const write = await graphql(t.url, SET, {
      host: 'sports.localhost',
      token,
      variables: { values: [{ key: 'locale', value: 'fr-FR' }] },
      headers: { 'x-forwarded-for': '203.0.113.99' },
    });
    expect(write.errors).toBeUndefined();

    const { entries } = await t.system.preferences.readAudit({
      realm: 'sports',
      limit: 10,
    });
    expect(entries).toHaveLength(1);
    expect(LOOPBACK).toContain(entries[0]?.clientAddress);
  });
});

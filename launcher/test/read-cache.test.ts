import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigDocuments } from '@realms/platform';
import {
  graphql,
  startTestSystem,
  type TestSystem,
} from './support/test-system.js';

const READ =
  '{ myPreferences { version values(keys: ["theme", "locale"]) { value source } } }';

type Read = {
  myPreferences: {
    version: number;
    values: { value: unknown; source: string }[];
  };
};

describe('the gateway read cache', () => {
  let t: TestSystem;
  let subgraphRequests = 0;

  beforeAll(async () => {
    t = await startTestSystem('redis');
    for (const server of t.system.subgraphServers.values()) {
      server.server.on('request', () => (subgraphRequests += 1));
    }
  });
  afterAll(() => t.stop());

  async function read(realm: string, user: string, query = READ) {
    const response = await graphql<Read>(t.url, query, {
      realm,
      token: await t.token(realm, user),
    });
    expect(response.errors).toBeUndefined();
    return response.data?.myPreferences;
  }

  /** Subgraph requests made while `action` runs. */
  async function counting(action: () => Promise<unknown>): Promise<number> {
    const before = subgraphRequests;
    await action();
    return subgraphRequests - before;
  }

  /** Reads until `done` holds, at most 5 s: for changes made elsewhere. */
  async function eventually(
    realm: string,
    user: string,
    done: (r: Read['myPreferences']) => boolean,
  ) {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const current = await read(realm, user);
      if (current && done(current)) return current;
      if (Date.now() > deadline)
        throw new Error(`still ${JSON.stringify(current)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('answers a repeated read without asking any subgraph', async () => {
    expect(await counting(() => read('sports', 'alice'))).toBeGreaterThan(0);
    expect(await counting(() => read('sports', 'alice'))).toBe(0);
  });

  it('answers a repeated read before Apollo Server, exactly as Apollo Server would', async () => {
    const token = await t.token('sports', 'gus');
    const send = (accept?: string) =>
      fetch(t.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-client-id': 'sports',
          authorization: `Bearer ${token}`,
          ...(accept ? { accept } : {}),
        },
        body: JSON.stringify({ query: READ, operationName: null }),
      });
    const shape = async (response: Response) => ({
      status: response.status,
      contentType: response.headers.get('content-type'),
      cacheControl: response.headers.get('cache-control'),
      body: await response.text(),
    });

    // The first read runs the whole pipeline; it fills the cache.
    const first = await shape(await send());
    expect(first.status).toBe(200);
    expect(first.body).toMatch(/^\{"data":\{"myPreferences":.*\}\n$/);
    const requests = await counting(async () => {
      const again = await shape(await send());
      expect(again).toEqual(first);
    });
    expect(requests).toBe(0);

    // Apollo Client's accept header: the same answer, negotiated to the
    // media type Apollo Server picks for it, with or without the cache.
    const apolloClient =
      'application/graphql-response+json,application/json;q=0.9';
    const negotiated = await shape(await send(apolloClient));
    expect(negotiated).toEqual({
      ...first,
      contentType: 'application/graphql-response+json; charset=utf-8',
    });
    // What Apollo Server itself answers that header with, on a miss (the
    // query spelled differently is another key).
    const miss = await fetch(t.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-client-id': 'sports',
        authorization: `Bearer ${token}`,
        accept: apolloClient,
      },
      body: JSON.stringify({ query: `${READ} ` }),
    });
    expect(miss.headers.get('content-type')).toBe(negotiated.contentType);
    expect(miss.headers.get('cache-control')).toBe(negotiated.cacheControl);
  });

  it("never serves one user's or realm's answer to another", async () => {
    const token = await t.token('sports', 'carol');
    await graphql(
      t.url,
      'mutation { setPreferences(values: [{ key: "theme", value: "light", scope: REALM }]) { version } }',
      {
        realm: 'sports',
        token,
      },
    );
    expect((await read('sports', 'carol'))?.values[0]?.value).toBe('light');
    expect((await read('sports', 'dave'))?.values[0]?.value).toBe('dark');
    expect((await read('parks', 'carol'))?.values[0]?.value).toBe('system');
  });

  it("reads the user's own write right after it", async () => {
    await read('sports', 'erin');
    const token = await t.token('sports', 'erin');
    await graphql(
      t.url,
      'mutation { setPreferences(values: [{ key: "locale", value: "fr-FR" }]) { version } }',
      {
        realm: 'sports',
        token,
      },
    );
    expect((await read('sports', 'erin'))?.values[1]).toEqual({
      value: 'fr-FR',
      source: 'USER_GLOBAL',
    });
    // A global value: the user's cached answer in another realm goes too.
    expect((await read('parks', 'erin'))?.values[1]).toEqual({
      value: 'fr-FR',
      source: 'USER_GLOBAL',
    });
  });

  it('drops an answer when the preference changes elsewhere (another replica)', async () => {
    const before = await read('sports', 'frank');
    // Written straight through the write path, as another gateway would.
    await t.system.preferences.write({
      realm: 'sports',
      userId: 'frank',
      changes: [
        { key: 'theme', value: 'system', scope: 'REALM', path: ['values', 0] },
      ],
      expectedVersion: null,
      writer: null,
      globalLayerWritable: true,
      actor: 'frank',
      requestId: 'elsewhere',
    });
    const after = await eventually(
      'sports',
      'frank',
      (r) => r.version > (before?.version ?? 0),
    );
    expect(after.values[0]).toEqual({ value: 'system', source: 'USER_REALM' });
  });

  it('drops every answer when a realm default or a global default changes', async () => {
    expect((await read('sports', 'gina'))?.values.map((v) => v.value)).toEqual([
      'dark',
      'en-US',
    ]);
    const live = t.system.liveCatalog;

    const realmEdit = structuredClone(live.documents) as ConfigDocuments & {
      realms: Record<
        string,
        { overrides: Record<string, Record<string, unknown>> }
      >;
      global: { properties: Record<string, Record<string, unknown>> };
    };
    const sports = realmEdit.realms['sports'];
    if (!sports) throw new Error('no sports');
    sports.overrides['theme'] = {
      ...sports.overrides['theme'],
      default: 'light',
    };
    await live.publish(realmEdit, live.version, {
      actor: 'ops',
      comment: 'realm default',
    });
    expect((await read('sports', 'gina'))?.values[0]).toEqual({
      value: 'light',
      source: 'REALM_DEFAULT',
    });

    const globalEdit = structuredClone(realmEdit);
    const locale = globalEdit.global.properties['locale'];
    if (!locale) throw new Error('no locale');
    locale['default'] = 'en-GB';
    await live.publish(globalEdit, live.version, {
      actor: 'ops',
      comment: 'global default',
    });
    expect((await read('sports', 'gina'))?.values[1]).toEqual({
      value: 'en-GB',
      source: 'GLOBAL_DEFAULT',
    });
  });
});

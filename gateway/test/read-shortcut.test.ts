import type { IncomingHttpHeaders } from 'node:http';
import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { RealmConfig } from '@realms/platform';
import type { GatewayContext } from '../src/gateway-server.js';
import { readCacheKey } from '../src/read-cache/read-cache-plugin.js';
import { ResponseCache } from '../src/read-cache/response-cache.js';
import { readShortcut } from '../src/read-cache/read-shortcut.js';

/*
 * The read shortcut answers only what the read cache holds for exactly
 * this request, and hands everything else to Apollo Server. The cached
 * entries here are put in with the key the cache plugin uses.
 */

const QUERY = '{ myPreferences { version } }';
const ANSWER = { data: { myPreferences: { version: 3 } } };

function context(overrides: Partial<GatewayContext> = {}): GatewayContext {
  return {
    realm: { id: 'sports' } as RealmConfig,
    realmError: null,
    identity: { realm: 'sports', userId: 'alice', roles: ['user'] },
    ...overrides,
  } as GatewayContext;
}

function setUp(version = 7) {
  const cache = new ResponseCache({ maxEntries: 10, ttlMs: 60_000 });
  const hits: (string | null)[] = [];
  const shortcut = readShortcut(cache, {
    version: () => version,
    onHit: ({ operationName }) => hits.push(operationName),
  });
  const store = (
    request: { query: string; operationName?: string },
    owner = context(),
  ) =>
    cache.set(
      readCacheKey(owner, version, request),
      ANSWER,
      ['sports:alice'],
      cache.snapshot(['sports:alice']),
      Date.now(),
      request.operationName ?? null,
    );
  const ask = (
    body: unknown,
    options: {
      method?: string;
      headers?: IncomingHttpHeaders;
      context?: () => Promise<GatewayContext>;
    } = {},
  ) =>
    shortcut({
      method: options.method ?? 'POST',
      headers: options.headers ?? {},
      body,
      context: options.context ?? (async () => context()),
    });
  return { cache, hits, store, ask };
}

describe('the read shortcut', () => {
  it('answers a cached read as Apollo Server would', async () => {
    const { store, ask, hits } = setUp();
    store({ query: QUERY, operationName: 'Mine' });
    const answer = await ask({
      query: QUERY,
      operationName: 'Mine',
      variables: null,
      extensions: { clientLibrary: { name: 'x' } },
    });
    expect(answer).toEqual({
      status: 200,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
      },
      body: `${JSON.stringify(ANSWER)}\n`,
    });
    expect(hits).toEqual(['Mine']);
  });

  it('negotiates the media type as Apollo Server does', async () => {
    const { store, ask } = setUp();
    store({ query: QUERY });
    const typeFor = async (accept: string) =>
      (await ask({ query: QUERY }, { headers: { accept } }))?.headers[
        'content-type'
      ];
    // Apollo Client's default.
    expect(
      await typeFor('application/graphql-response+json,application/json;q=0.9'),
    ).toBe('application/graphql-response+json; charset=utf-8');
    expect(await typeFor('application/json')).toBe(
      'application/json; charset=utf-8',
    );
    expect(await typeFor('*/*')).toBe('application/json; charset=utf-8');
    expect(
      await typeFor(
        'application/json;q=0.5, application/graphql-response+json',
      ),
    ).toBe('application/graphql-response+json; charset=utf-8');
  });

  it('hands everything unusual or uncached to Apollo Server', async () => {
    const { store, ask, hits, cache } = setUp();
    store({ query: QUERY });
    const refused = async () => {
      throw new GraphQLError('no', { extensions: { code: 'UNAUTHENTICATED' } });
    };
    const cases: [string, Promise<unknown>][] = [
      ['GET', ask({ query: QUERY }, { method: 'GET' })],
      [
        'the callback media type',
        ask(
          { query: QUERY },
          { headers: { accept: 'application/json; callbackSpec=1.0' } },
        ),
      ],
      [
        'no acceptable media type (Apollo answers 406)',
        ask({ query: QUERY }, { headers: { accept: 'text/html' } }),
      ],
      [
        'a persisted query',
        ask({ query: QUERY, extensions: { persistedQuery: {} } }),
      ],
      ['an unknown body field', ask({ query: QUERY, batch: true })],
      ['a body that is no object', ask([{ query: QUERY }])],
      ['another query text', ask({ query: `${QUERY} ` })],
      ['other variables', ask({ query: QUERY, variables: { a: 1 } })],
      ['an operation name', ask({ query: QUERY, operationName: 'Other' })],
      ['a context that fails', ask({ query: QUERY }, { context: refused })],
      [
        'no realm',
        ask(
          { query: QUERY },
          {
            context: async () =>
              context({ realm: null, realmError: new GraphQLError('x') }),
          },
        ),
      ],
      [
        'another user',
        ask(
          { query: QUERY },
          {
            context: async () =>
              context({
                identity: { realm: 'sports', userId: 'bob', roles: ['user'] },
              }),
          },
        ),
      ],
      [
        'other roles',
        ask(
          { query: QUERY },
          {
            context: async () =>
              context({
                identity: {
                  realm: 'sports',
                  userId: 'alice',
                  roles: ['realm-admin'],
                },
              }),
          },
        ),
      ],
      [
        'another realm',
        ask(
          { query: QUERY },
          {
            context: async () =>
              context({ realm: { id: 'parks' } as RealmConfig }),
          },
        ),
      ],
    ];
    for (const [name, answer] of cases) {
      expect(await answer, name).toBeNull();
    }
    expect(hits).toEqual([]);

    // The control: the stored request itself is answered, until the
    // preference changes.
    expect(await ask({ query: QUERY })).not.toBeNull();
    cache.invalidate('sports:alice');
    expect(await ask({ query: QUERY })).toBeNull();
  });

  it('misses once the configuration version moved', async () => {
    const old = setUp(7);
    old.store({ query: QUERY });
    const shortcut = readShortcut(old.cache, {
      version: () => 8,
      onHit: () => undefined,
    });
    const answer = await shortcut({
      method: 'POST',
      headers: {},
      body: { query: QUERY },
      context: async () => context(),
    });
    expect(answer).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import type { RealmConfig } from '@realms/platform';
import type { GatewayContext } from '../src/gateway-server.js';
import {
  divisionDependency,
  entityFetchPlan,
} from '../src/read-cache/entity-cache.js';
import { ReadCaches } from '../src/read-cache/read-cache.js';
import { ResponseCache } from '../src/read-cache/response-cache.js';

// Which subgraph fetches the entity cache takes, and what each depends
// on; launcher/test/entity-cache.test.ts runs it through a real gateway.

function context(overrides: Partial<GatewayContext> = {}): GatewayContext {
  return {
    requestId: 'r-1',
    logger: undefined as never,
    realm: { id: 'sports' } as RealmConfig,
    realmError: null,
    identity: { realm: 'sports', userId: 'alice', roles: ['user'] },
    forwardedIdentity: () => Promise.resolve('signed'),
    ...overrides,
  };
}

const ONE = {
  representations: [{ __typename: 'Preference', id: 'sports:alice' }],
};
const DIVISION_ONLY =
  'query Read__sports__1($representations:[_Any!]!){_entities(representations:$representations){...on Preference{__typename sports{favoriteTeams}}}}';

function plan(
  query: string,
  variables: Record<string, unknown> = ONE,
  ctx = context(),
) {
  return entityFetchPlan(
    'sports',
    { query, variables },
    ctx,
    3,
    new ResponseCache({ maxEntries: 10, ttlMs: 60_000 }),
  );
}

describe('entityFetchPlan', () => {
  it("keys a division-only fetch of one preference by that division's keys", () => {
    expect(plan(DIVISION_ONLY)?.dependsOn).toEqual([
      divisionDependency('sports:alice', 'sports'),
    ]);
  });

  it('makes a fetch that asks for more than the division field depend on the whole preference', () => {
    const withVersion = DIVISION_ONLY.replace('sports{', 'version sports{');
    expect(plan(withVersion)?.dependsOn).toEqual(['sports:alice']);
    const twoFields = DIVISION_ONLY.replace(
      'sports{favoriteTeams}',
      'sports{favoriteTeams} values{key}',
    );
    expect(plan(twoFields)?.dependsOn).toEqual(['sports:alice']);
    const directive = DIVISION_ONLY.replace(
      'sports{',
      'sports@skip(if:false){',
    );
    expect(plan(directive)?.dependsOn).toEqual(['sports:alice']);
  });

  it('takes nothing but a query of one Preference of the request realm', () => {
    const many = {
      representations: [
        { __typename: 'Preference', id: 'sports:alice' },
        { __typename: 'Preference', id: 'sports:bob' },
      ],
    };
    expect(plan(DIVISION_ONLY, many)).toBeNull();
    expect(
      plan(DIVISION_ONLY, {
        representations: [{ __typename: 'Preference', id: 'parks:alice' }],
      }),
    ).toBeNull();
    expect(
      plan(DIVISION_ONLY, {
        representations: [{ __typename: 'Other', id: 'sports:alice' }],
      }),
    ).toBeNull();
    expect(plan(DIVISION_ONLY.replace(/^query/, 'mutation'))).toBeNull();
    expect(plan('{ myPreferences { id } }')).toBeNull();
    expect(plan('not graphql')).toBeNull();
    expect(plan(DIVISION_ONLY, ONE, context({ realm: null }))).toBeNull();
  });

  it('keys by caller: user, roles and realm are in the key', () => {
    const alice = plan(DIVISION_ONLY)?.key;
    const bob = plan(
      DIVISION_ONLY,
      ONE,
      context({
        identity: { realm: 'sports', userId: 'bob', roles: ['user'] },
      }),
    )?.key;
    const admin = plan(
      DIVISION_ONLY,
      ONE,
      context({
        identity: {
          realm: 'sports',
          userId: 'alice',
          roles: ['user', 'realm-admin'],
        },
      }),
    )?.key;
    expect(new Set([alice, bob, admin]).size).toBe(3);
  });
});

describe('ReadCaches.invalidate', () => {
  function filled() {
    const caches = new ReadCaches(
      {
        responses: { maxEntries: 10, ttlMs: 60_000 },
        entities: { maxEntries: 10, ttlMs: 60_000 },
      },
      ['sports', 'parks'],
    );
    const put = (cache: ResponseCache, key: string, dependsOn: string) =>
      cache.set(
        key,
        { data: { key } },
        [dependsOn],
        cache.snapshot([dependsOn]),
      );
    put(caches.responses, 'response', 'sports:alice');
    put(caches.entities, 'whole', 'sports:alice');
    put(
      caches.entities,
      'division',
      divisionDependency('sports:alice', 'sports'),
    );
    return caches;
  }
  const present = (caches: ReadCaches) => ({
    response: caches.responses.get('response') !== null,
    whole: caches.entities.get('whole') !== null,
    division: caches.entities.get('division') !== null,
  });

  it("keeps a division's entries when only other keys changed", () => {
    const caches = filled();
    caches.invalidate('sports:alice', ['displayName', 'parks.trip']);
    expect(present(caches)).toEqual({
      response: false,
      whole: false,
      division: true,
    });
  });

  it("drops them when one of the division's keys changed", () => {
    const caches = filled();
    caches.invalidate('sports:alice', ['displayName', 'sports.favoriteTeams']);
    expect(present(caches)).toEqual({
      response: false,
      whole: false,
      division: false,
    });
  });

  it('drops everything when the changed keys are not known', () => {
    const caches = filled();
    caches.invalidate('sports:alice');
    expect(present(caches)).toEqual({
      response: false,
      whole: false,
      division: false,
    });
  });

  it("leaves other users' entries", () => {
    const caches = filled();
    caches.invalidate('sports:bob');
    expect(present(caches)).toEqual({
      response: true,
      whole: true,
      division: true,
    });
  });
});

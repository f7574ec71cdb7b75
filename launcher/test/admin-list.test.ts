import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  graphql,
  startTestSystem,
  type TestSystem,
} from './support/test-system.js';

const LIST = /* GraphQL */ `
  query ($first: Int, $after: String) {
    realmPreferences(first: $first, after: $after) {
      items {
        id
        userId
        values(keys: ["locale"]) {
          value
        }
        sports {
          favoriteTeams
        }
      }
      nextCursor
    }
  }
`;

type Page = {
  realmPreferences: {
    items: { id: string; sports: { favoriteTeams: string[] } }[];
    nextCursor: string | null;
  };
};

describe('listing a realm for its admins', () => {
  let t: TestSystem;
  let subgraphRequests = 0;
  let admin: string;

  beforeAll(async () => {
    t = await startTestSystem('redis', { readCache: false });
    for (const server of t.system.subgraphServers.values()) {
      server.server.on('request', () => (subgraphRequests += 1));
    }
    for (let i = 0; i < 60; i++) {
      await t.system.preferences.write({
        realm: 'sports',
        userId: `fan-${String(i).padStart(2, '0')}`,
        changes: [
          {
            key: 'sports.favoriteTeams',
            value: [`team-${i}`],
            scope: null,
            path: ['seed'],
          },
        ],
        expectedVersion: null,
        writer: 'sports',
        globalLayerWritable: true,
        actor: 'seed',
        requestId: 'seed',
      });
    }
    admin = await t.token('sports', 'sam', ['realm-admin']);
  });
  afterAll(() => t.stop());

  async function list(first: number, after: string | null = null) {
    const before = subgraphRequests;
    const response = await graphql<Page>(t.url, LIST, {
      realm: 'sports',
      token: admin,
      variables: { first, after },
    });
    expect(response.errors).toBeUndefined();
    return {
      page: response.data?.realmPreferences,
      requests: subgraphRequests - before,
    };
  }

  it('pages through every user with stored values, with division fields', async () => {
    const first = await list(50);
    expect(first.page?.items).toHaveLength(50);
    expect(first.page?.items[0]).toMatchObject({
      id: 'sports:fan-00',
      sports: { favoriteTeams: ['team-0'] },
    });
    const rest = await list(50, first.page?.nextCursor ?? null);
    expect(rest.page?.items).toHaveLength(10);
    expect(rest.page?.nextCursor).toBeNull();
  });

  it('costs the same number of subgraph requests for 5 users as for 50', async () => {
    const few = await list(5);
    const many = await list(50);
    expect(few.requests).toBeGreaterThan(0);
    expect(many.requests).toBe(few.requests);
  });

  it('is refused to users and to admins of another realm', async () => {
    const user = await graphql(t.url, LIST, {
      realm: 'sports',
      token: await t.token('sports', 'fan-01'),
    });
    expect(user.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    const other = await graphql(
      t.url,
      '{ realmPreferences(realm: "sports") { nextCursor } }',
      {
        realm: 'parks',
        token: await t.token('parks', 'pat', ['realm-admin']),
      },
    );
    expect(other.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
  });
});

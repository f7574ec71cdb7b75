import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  graphql,
  startTestSystem,
  type TestSystem,
} from '../support/test-system.js';
import { countSubgraphRequests } from '../subscriptions/support.js';

/*
 * Admin-only query fields are refused at the gateway, before any query
 * plan runs: a plain user's request costs no subgraph a single request.
 */

const LIST = /* GraphQL */ `
  query {
    realmPreferences(first: 5) {
      items {
        userId
      }
    }
  }
`;

const AUDIT = /* GraphQL */ `
  query {
    auditLog(first: 5) {
      nextCursor
    }
  }
`;

describe('root field policy at the gateway', () => {
  let t: TestSystem;

  beforeAll(async () => {
    t = await startTestSystem('memory');
  });

  afterAll(async () => {
    await t?.stop();
  });

  it.each([
    ['realmPreferences', LIST],
    ['auditLog', AUDIT],
  ])(
    'refuses %s to a plain user without asking a subgraph',
    async (_, query) => {
      const token = await t.token('sports', 'plain-user', ['user']);
      const requests = countSubgraphRequests(t);
      try {
        const response = await graphql(t.url, query, {
          realm: 'sports',
          token,
        });
        expect(response.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
        expect(response.status).toBe(403);
        expect(response.data ?? null).toBeNull();
        expect(requests.seen).toEqual([]);
      } finally {
        requests.stop();
      }
    },
  );

  it('asks an anonymous caller to sign in', async () => {
    const response = await graphql(t.url, LIST, { realm: 'sports' });
    expect(response.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
    expect(response.status).toBe(401);
  });

  it('lets a realm admin through to the subgraph', async () => {
    const token = await t.token('sports', 'an-admin', ['realm-admin']);
    const requests = countSubgraphRequests(t);
    try {
      const response = await graphql(t.url, LIST, { realm: 'sports', token });
      expect(response.errors).toBeUndefined();
      expect(response.data).toEqual({
        realmPreferences: { items: expect.any(Array) },
      });
      expect(requests.counts['core']).toBeGreaterThanOrEqual(1);
    } finally {
      requests.stop();
    }
  });

  it('leaves a refused write to the subgraph, which audits it', async () => {
    const token = await t.token('sports', 'plain-user', ['user']);
    const requests = countSubgraphRequests(t);
    try {
      const response = await graphql(
        t.url,
        /* GraphQL */ `
          mutation {
            setPreferences(
              id: "sports:someone-else"
              values: [{ key: "displayName", value: "x" }]
            ) {
              version
            }
          }
        `,
        { realm: 'sports', token },
      );
      expect(response.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
      expect(requests.counts['core']).toBe(1);
    } finally {
      requests.stop();
    }
  });
});

import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  graphql,
  startTestSystem,
  type TestSystem,
} from './support/test-system.js';

const REALM_ID = '{ currentRealm { id } }';

describe('realm routing, health and the HTTP surface (development)', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('memory');
  });
  afterAll(() => t.stop());

  it('routes by host name through the realm domains', async () => {
    for (const realm of ['sports', 'entertainment', 'parks']) {
      const response = await graphql<{ currentRealm: { id: string } }>(
        t.url,
        REALM_ID,
        {
          host: `${realm}.localhost`,
        },
      );
      expect(response.data?.currentRealm.id).toBe(realm);
    }
  });

  it('believes the realm header from a trusted proxy (loopback in development)', async () => {
    const response = await graphql<{ currentRealm: { id: string } }>(
      t.url,
      REALM_ID,
      {
        realm: 'parks',
        host: 'sports.localhost',
      },
    );
    expect(response.data?.currentRealm.id).toBe('parks');
  });

  it('refuses an unknown host or realm instead of defaulting', async () => {
    const unknownHost = await graphql(t.url, REALM_ID, { host: 'example.com' });
    expect(unknownHost.status).toBe(421);
    expect(unknownHost.errors?.[0]?.extensions?.['code']).toBe('UNKNOWN_REALM');
    const unknownRealm = await graphql(t.url, REALM_ID, { realm: 'casino' });
    expect(unknownRealm.errors?.[0]?.extensions?.['code']).toBe(
      'UNKNOWN_REALM',
    );
  });

  it('answers introspection without a realm, for Sandbox and code generators', async () => {
    const response = await graphql<{
      __schema: { queryType: { name: string } };
    }>(t.url, '{ __schema { queryType { name } } }', { host: 'localhost' });
    expect(response.data?.__schema.queryType.name).toBe('Query');
  });

  it('serves Apollo Sandbox to a browser', async () => {
    const response = await fetch(t.url, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('embeddable-sandbox');
  });

  it('reports live and ready, and not ready when a subgraph is down', async () => {
    const base = new URL(t.url);
    const live = await fetch(new URL('/health/live', base));
    expect(live.status).toBe(200);
    const ready = await fetch(new URL('/health/ready', base));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ok',
      dependencies: {
        'subgraph:core': { ok: true },
        'subgraph:parks': { ok: true },
      },
    });
    for (const url of Object.values(t.system.subgraphUrls)) {
      expect((await fetch(new URL('/health/ready', url))).status).toBe(200);
    }
  });

  it('refuses a subgraph call that did not come through the gateway', async () => {
    const response = await fetch(t.system.subgraphUrls.core, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-realms-identity': 'forged',
      },
      body: JSON.stringify({ query: '{ myPreferences { id } }' }),
    });
    const body = (await response.json()) as {
      errors: { extensions: { code: string } }[];
    };
    expect(body.errors[0]?.extensions.code).toBe('UNAUTHENTICATED');
  });

  it('refuses malformed bodies with a clear code, never a 500', async () => {
    const response = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-client-id': 'sports' },
      body: '{"query": ',
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as {
      errors: { extensions: { code: string } }[];
    };
    expect(body.errors[0]?.extensions.code).toBe('BAD_REQUEST');
  });

  it('passes every MUST audit of the GraphQL over HTTP specification', async () => {
    const token = await t.token('sports', 'alice');
    const fetchFn = (input: string | URL | Request, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      headers.set('x-client-id', 'sports');
      headers.set('authorization', `Bearer ${token}`);
      return fetch(input, { ...init, headers });
    };
    const results = await Promise.all(
      serverAudits({ url: t.url, fetchFn }).map((audit) => audit.fn()),
    );
    const failedMusts = results
      .filter((r) => r.status === 'error')
      .map((r) => r.name);
    expect(failedMusts).toEqual([]);
    expect(results.filter((r) => r.status === 'ok').length).toBeGreaterThan(40);
  });

  it('loses only the fields of a subgraph that stops, and says which', async () => {
    await t.system.stopSubgraph('parks');
    const token = await t.token('parks', 'bob');
    const response = await graphql<{ myPreferences: Record<string, unknown> }>(
      t.url,
      '{ myPreferences { id parks { trip { partySize } } } }',
      { realm: 'parks', token },
    );
    expect(response.status).toBe(200);
    expect(response.data?.myPreferences).toEqual({
      id: 'parks:bob',
      parks: null,
    });
    expect(response.errors?.[0]?.message).toBe(
      'The parks service did not answer.',
    );
    expect(response.errors?.[0]?.extensions).toMatchObject({
      code: 'SUBGRAPH_UNAVAILABLE',
      serviceName: 'parks',
    });
    expect(JSON.stringify(response.errors)).not.toContain('127.0.0.1');
  });

  it('reports not ready once a subgraph stops', async () => {
    const ready = await fetch(new URL('/health/ready', t.url));
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      dependencies: { 'subgraph:parks': { ok: false } },
    });
  });
});

describe('realm routing without trusted proxies', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('memory', { trustedProxies: [] });
  });
  afterAll(() => t.stop());

  it('ignores a realm header from an untrusted address and routes by host', async () => {
    const response = await graphql<{ currentRealm: { id: string } }>(
      t.url,
      REALM_ID,
      {
        realm: 'parks',
        host: 'sports.localhost',
      },
    );
    expect(response.data?.currentRealm.id).toBe('sports');
    const noHost = await graphql(t.url, REALM_ID, {
      realm: 'parks',
      host: 'localhost',
    });
    expect(noHost.errors?.[0]?.extensions?.['code']).toBe('UNKNOWN_REALM');
  });
});

describe('production mode', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('memory', { production: true });
  });
  afterAll(() => t.stop());

  it('turns off introspection and Sandbox', async () => {
    const introspection = await graphql(
      t.url,
      '{ __schema { queryType { name } } }',
      { realm: 'sports' },
    );
    expect(introspection.errors?.[0]?.extensions?.['code']).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
    const page = await fetch(t.url, { headers: { accept: 'text/html' } });
    expect(page.headers.get('content-type')).not.toContain('text/html');
    expect(await page.text()).not.toContain('apollographql.com');
  });
});

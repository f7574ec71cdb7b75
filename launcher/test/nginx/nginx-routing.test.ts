// The edge end to end: a real nginx running deploy/nginx (only ports,
// paths and the gateway address changed, see ./edge.ts) with certificates
// from scripts/dev-certs.sh, in front of a real gateway. Everything stays
// on loopback. Without nginx these tests fail; .ci/run installs it.
import type { ConnectionOptions } from 'node:tls';
import { Agent } from 'node:https';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog, type RealmConfig } from '@realms/platform';
import { startTestSystem, type TestSystem } from '../support/test-system.js';
import {
  edgeRequest,
  findNginx,
  startEdge,
  type Edge,
  type EdgeResponse,
} from './edge.js';

const REALM_ID = '{ currentRealm { id } }';
const ADMIN_DOMAINS = ['admin.localhost', 'admin.realms.test'];
const ONE_MIB = 1024 * 1024;
/** The edge lets 40 requests through at once beyond its 20 a second. */
const BURST = 40;
/** Sent at once to see the limit: bounded, all to loopback. */
const REQUESTS = 100;
const WAIT_MS = 10_000;

interface GraphQLBody {
  readonly data?: { currentRealm?: { id: string } } | null;
  readonly errors?: { extensions?: { code?: string } }[];
}

function json(response: EdgeResponse): GraphQLBody {
  return JSON.parse(response.body) as GraphQLBody;
}

describe('NGINX in front of the gateway (a real nginx)', () => {
  let t: TestSystem | undefined;
  let edge: Edge | undefined;
  let realms: RealmConfig[];

  const system = () => t as TestSystem;
  const proxy = () => edge as Edge;

  /** A GraphQL POST over HTTPS through the edge, named by `host`. */
  const viaEdge = (
    host: string,
    query: string,
    headers: Record<string, string> = {},
    variables?: Record<string, unknown>,
  ) =>
    edgeRequest({
      port: proxy().httpsPort,
      host,
      tls: { ca: proxy().ca },
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query, variables }),
    });

  /** A GraphQL POST straight to the gateway, from `localAddress`. */
  const direct = (
    localAddress: string,
    host: string,
    headers: Record<string, string>,
  ) =>
    edgeRequest({
      port: Number(new URL(system().url).port),
      host,
      localAddress,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query: REALM_ID }),
    });

  beforeAll(async () => {
    const nginx = await findNginx();
    realms = [...(await loadCatalog()).realms.values()];
    // nginx reaches the gateway from 127.0.0.1, the one trusted address.
    t = await startTestSystem('memory', { trustedProxies: ['127.0.0.1'] });
    edge = await startEdge({ nginx, gatewayUrl: t.url });
  });

  afterAll(async () => {
    try {
      await edge?.stop();
    } finally {
      await t?.stop();
    }
  });

  it('brings every realm domain over HTTPS to its realm', async () => {
    for (const realm of realms) {
      for (const domain of realm.domains) {
        const response = await viaEdge(domain, REALM_ID);
        expect(response.status, `${domain}: ${response.body}`).toBe(200);
        expect(json(response).data?.currentRealm?.id, domain).toBe(realm.id);
        expect(response.headers['x-request-id'], domain).toMatch(
          /^[0-9a-f]{32}$/,
        );
      }
    }
  });

  it('redirects HTTP to HTTPS with 301, for realm and admin domains', async () => {
    const domains = [...realms.flatMap((r) => r.domains), ...ADMIN_DOMAINS];
    for (const domain of domains) {
      const response = await edgeRequest({
        port: proxy().httpPort,
        host: domain,
        method: 'POST',
        path: '/graphql?op=1',
        body: JSON.stringify({ query: REALM_ID }),
      });
      expect(response.status, domain).toBe(301);
      expect(response.headers.location, domain).toBe(
        `https://${domain}:${proxy().httpsPort}/graphql?op=1`,
      );
    }
  });

  it('replaces an X-Client-ID the client sent with the domain’s realm', async () => {
    const forged = await viaEdge('sports.localhost', REALM_ID, {
      'x-client-id': 'parks',
    });
    expect(json(forged).data?.currentRealm?.id).toBe('sports');
  });

  it('passes the admin domains on with no realm header, whatever the client sent', async () => {
    for (const domain of ADMIN_DOMAINS) {
      // The gateway itself answers (JSON): no admin realm exists yet.
      const response = await viaEdge(domain, REALM_ID, {
        'x-client-id': 'sports',
      });
      expect(response.status, domain).toBe(421);
      expect(json(response).errors?.[0]?.extensions?.code, domain).toBe(
        'UNKNOWN_REALM',
      );
    }
  });

  it('answers 421 itself for unknown hosts, on HTTP and HTTPS', async () => {
    const http = await edgeRequest({
      port: proxy().httpPort,
      host: 'example.com',
    });
    expect(http.status).toBe(421);
    expect(http.headers.location).toBeUndefined();

    // The default certificate names no realm: check its chain only.
    const https = await edgeRequest({
      port: proxy().httpsPort,
      host: 'example.com',
      tls: { ca: proxy().ca, checkName: false },
    });
    expect(https.status).toBe(421);
    // nginx's own page, not the gateway's JSON: nothing was proxied.
    expect(https.headers['content-type']).toMatch(/^text\/html/);

    // A realm's certificate (SNI) does not make another Host a realm.
    const mismatched = await edgeRequest({
      port: proxy().httpsPort,
      host: 'example.com',
      tls: { ca: proxy().ca, servername: 'sports.localhost' },
    });
    expect(mismatched.status).toBe(421);
  });

  it('lets no untrusted address choose its realm by header, straight to the gateway', async () => {
    // 127.0.0.2 is loopback too, but not in TRUSTED_PROXIES.
    const byHost = await direct('127.0.0.2', 'sports.localhost', {
      'x-client-id': 'parks',
    });
    expect(json(byHost).data?.currentRealm?.id).toBe('sports');

    const noRealm = await direct('127.0.0.2', 'localhost', {
      'x-client-id': 'sports',
    });
    expect(noRealm.status).toBe(421);
    expect(json(noRealm).errors?.[0]?.extensions?.code).toBe('UNKNOWN_REALM');

    // The same request from the trusted address is believed.
    const trusted = await direct('127.0.0.1', 'sports.localhost', {
      'x-client-id': 'parks',
    });
    expect(json(trusted).data?.currentRealm?.id).toBe('parks');
  });

  it('carries a graphql-ws subscription over wss', async () => {
    const token = await system().token('sports', 'alice');
    const setLocale = async (locale: string) => {
      const response = await viaEdge(
        'sports.localhost',
        'mutation ($locale: JSON!) { setPreferences(values: [{ key: "locale", value: $locale }]) { version } }',
        { authorization: `Bearer ${token}` },
        { locale },
      );
      expect(response.status, response.body).toBe(200);
      expect(json(response).errors).toBeUndefined();
    };

    // Subscribing after a known change replays whatever follows it, so
    // the change below arrives however the two race.
    await setLocale('en-GB');
    const after = await system().system.state.store.latestCursor('sports');
    expect(after).not.toBeNull();

    // To 127.0.0.1 like every request here, with the realm's name for SNI
    // and Host (ws passes TLS options through to tls.connect).
    const { ca, httpsPort } = proxy();
    const socketOptions: WebSocket.ClientOptions &
      Pick<ConnectionOptions, 'servername'> = {
      ca,
      servername: 'sports.localhost',
      headers: { host: `sports.localhost:${httpsPort}` },
    };
    class EdgeWebSocket extends WebSocket {
      constructor(address: string | URL, protocols?: string | string[]) {
        super(address, protocols, socketOptions);
      }
    }
    const client = createClient({
      url: `wss://127.0.0.1:${httpsPort}/graphql`,
      webSocketImpl: EdgeWebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    const events = client.iterate<{ preferenceChanged: { cursor: string } }>({
      query:
        'subscription ($after: String) { preferenceChanged(after: $after) { cursor } }',
      variables: { after },
    });
    try {
      const first = events.next();
      await setLocale('fr-FR');
      const result = await within(first, WAIT_MS, 'the change event');
      expect(result.done).toBe(false);
      const cursor = result.value?.data?.preferenceChanged.cursor;
      expect(cursor).toBeTruthy();
      expect(cursor).not.toBe(after);
    } finally {
      await events.return?.();
      await client.dispose();
    }
  });

  it('refuses a body over 1 MiB with 413 before the gateway', async () => {
    const response = await edgeRequest({
      port: proxy().httpsPort,
      host: 'sports.localhost',
      tls: { ca: proxy().ca },
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(ONE_MIB + 1, 0x20),
    });
    expect(response.status).toBe(413);
  });

  // Last: it spends the client's allowance, which every test shares.
  it('answers 429 beyond the burst a client may send', async () => {
    // Let the allowance refill (20 a second) from the tests before.
    await new Promise((resolve) => setTimeout(resolve, 2_500));

    // Well over the burst, quickly: a few kept-alive connections spare
    // the TLS handshakes, so the refill during the run stays small.
    const agent = new Agent({ keepAlive: true, maxSockets: 10 });
    try {
      const statuses = await Promise.all(
        Array.from({ length: REQUESTS }, async () => {
          const response = await edgeRequest({
            port: proxy().httpsPort,
            host: 'sports.localhost',
            tls: { ca: proxy().ca },
            path: '/health/live',
            agent,
          });
          return response.status;
        }),
      );
      const count = (status: number) =>
        statuses.filter((s) => s === status).length;
      expect(count(200) + count(429)).toBe(REQUESTS);
      expect(count(200)).toBeGreaterThan(BURST);
      expect(count(429)).toBeGreaterThan(0);
    } finally {
      agent.destroy();
    }
  });
});

/** Rejects when `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '@realms/platform';
import {
  LOOPBACK_ADDRESSES,
  RealmRouter,
  trustedProxiesFromEnv,
} from '../src/realm-routing/realm-router.js';

const catalog = await loadCatalog();

function request(
  remoteAddress: string,
  headers: Record<string, string>,
): IncomingMessage {
  return { socket: { remoteAddress }, headers } as unknown as IncomingMessage;
}

function realmOf(router: RealmRouter, req: IncomingMessage): string {
  const resolution = router.resolve(req);
  return resolution.ok
    ? resolution.realm.id
    : String(resolution.error.extensions['code']);
}

describe('realm routing', () => {
  const router = new RealmRouter(() => catalog, ['10.0.0.5']);

  it('maps realm domains, with or without a port, case-insensitively', () => {
    expect(
      realmOf(router, request('192.0.2.1', { host: 'sports.localhost:4000' })),
    ).toBe('sports');
    expect(
      realmOf(router, request('192.0.2.1', { host: 'PARKS.realms.test' })),
    ).toBe('parks');
  });

  it('believes X-Client-ID from a trusted proxy only', () => {
    const headers = { host: 'sports.localhost', 'x-client-id': 'parks' };
    expect(realmOf(router, request('10.0.0.5', headers))).toBe('parks');
    expect(realmOf(router, request('192.0.2.1', headers))).toBe('sports');
  });

  it('never defaults: unknown hosts and realms are refused', () => {
    expect(
      realmOf(router, request('192.0.2.1', { host: 'localhost:4000' })),
    ).toBe('UNKNOWN_REALM');
    expect(realmOf(router, request('192.0.2.1', {}))).toBe('UNKNOWN_REALM');
    expect(
      realmOf(router, request('10.0.0.5', { 'x-client-id': 'casino' })),
    ).toBe('UNKNOWN_REALM');
  });

  it('trusts loopback in development and nobody in production by default', () => {
    expect(trustedProxiesFromEnv({})).toEqual(LOOPBACK_ADDRESSES);
    expect(trustedProxiesFromEnv({ NODE_ENV: 'production' })).toEqual([]);
    expect(
      trustedProxiesFromEnv({ TRUSTED_PROXIES: '172.28.0.10, 10.0.0.1' }),
    ).toEqual(['172.28.0.10', '10.0.0.1']);
  });
});

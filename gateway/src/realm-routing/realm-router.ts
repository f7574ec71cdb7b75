import type { IncomingMessage } from 'node:http';
import {
  unknownRealm,
  type PreferenceCatalog,
  type RealmConfig,
} from '@realms/platform';
import type { GraphQLError } from 'graphql';

/** The header NGINX sets to name the realm of a tenant domain. */
export const REALM_HEADER = 'x-client-id';

/** Loopback addresses: the trusted proxies of a development machine. */
export const LOOPBACK_ADDRESSES = ['127.0.0.1', '::1', '::ffff:127.0.0.1'];

export type RealmResolution =
  | {
      readonly ok: true;
      readonly realm: RealmConfig;
      readonly via: 'header' | 'host';
    }
  | { readonly ok: false; readonly error: GraphQLError };

/**
 * Decides the realm of a request. The realm header is believed only from a
 * trusted proxy (which strips any header a client sent and sets its own);
 * anyone else is routed by the Host name through the realm domains in
 * `schema/`. Nothing falls back to a default realm.
 */
export class RealmRouter {
  private readonly trustedProxies: ReadonlySet<string>;

  constructor(
    private readonly catalog: () => PreferenceCatalog,
    trustedProxies: Iterable<string>,
  ) {
    this.trustedProxies = new Set(trustedProxies);
  }

  resolve(request: IncomingMessage): RealmResolution {
    const catalog = this.catalog();
    const remote = request.socket.remoteAddress ?? '';
    const named = request.headers[REALM_HEADER];
    if (typeof named === 'string' && this.trustedProxies.has(remote)) {
      const realm = catalog.realm(named.trim().toLowerCase());
      return realm
        ? { ok: true, realm, via: 'header' }
        : { ok: false, error: unknownRealm(`Unknown realm "${named}".`) };
    }

    const host = hostName(request.headers.host);
    const realm = host ? catalog.realmForHost(host) : undefined;
    if (realm) return { ok: true, realm, via: 'host' };
    return {
      ok: false,
      error: unknownRealm(
        `No realm serves host "${host ?? ''}". Use a realm domain ` +
          `(e.g. ${catalog.realmIds.map((id) => `${id}.localhost`).join(', ')}).`,
      ),
    };
  }
}

/** The host name of a Host header, without port or IPv6 brackets. */
function hostName(header: string | undefined): string | null {
  if (!header) return null;
  const value = header.trim().toLowerCase();
  if (value.startsWith('[')) return value.slice(1, value.indexOf(']'));
  const colon = value.lastIndexOf(':');
  return colon > 0 ? value.slice(0, colon) : value;
}

/** Reads `TRUSTED_PROXIES` (comma-separated addresses). */
export function trustedProxiesFromEnv(env = process.env): string[] {
  const configured = env['TRUSTED_PROXIES'];
  if (configured !== undefined) {
    return configured
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
  }
  // Development trusts loopback so a local NGINX (or curl) can name the
  // realm; production trusts nobody until told.
  return env['NODE_ENV'] === 'production' ? [] : LOOPBACK_ADDRESSES;
}

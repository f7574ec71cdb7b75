import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { expect } from 'vitest';
import { graphql, type TestSystem } from '../support/test-system.js';

/** What the tests select of a change: event fields, division and global values. */
export const OWN_CHANGES = /* GraphQL */ `
  subscription OwnChanges($after: String) {
    preferenceChanged(after: $after) {
      cursor
      realmId
      userId
      version
      changedKeys
      actor
      originRealm
      preference {
        id
        userId
        sports {
          favoriteTeams
        }
        values(keys: ["locale"]) {
          key
          value
        }
      }
    }
  }
`;

export const REALM_CHANGES = /* GraphQL */ `
  subscription RealmChanges($realm: ID, $after: String) {
    realmPreferenceChanged(realm: $realm, after: $after) {
      cursor
      realmId
      userId
      version
      preference {
        id
      }
    }
  }
`;

/** A change as {@link OWN_CHANGES} selects it. */
export interface Change {
  readonly cursor: string;
  readonly realmId: string;
  readonly userId: string;
  readonly version: number;
  readonly changedKeys?: string[];
  readonly actor?: string;
  readonly originRealm?: string;
  readonly preference: {
    readonly id: string;
    readonly userId?: string;
    readonly sports?: { readonly favoriteTeams: string[] } | null;
    readonly values?: { key: string; value: unknown }[];
  };
}

export type OwnChangeData = { preferenceChanged: Change };
export type RealmChangeData = { realmPreferenceChanged: Change };

/** The data of each result, failing on any result with errors. */
export function changesOf(
  results: readonly {
    data?: Record<string, Change> | null;
    errors?: readonly unknown[];
  }[],
): Change[] {
  return results.map((result) => {
    expect(result.errors).toBeUndefined();
    const change = Object.values(result.data ?? {})[0];
    expect(change).toBeDefined();
    return change as Change;
  });
}

/**
 * Where a subscription should start so that it misses nothing written
 * after this call: the newest cursor of the realm's log. Subscribing with
 * `after` set to it means a write made right after subscribing cannot
 * race the server's subscribe (it is replayed, not lost). Without a
 * cursor (`after: null`, live only) that race is real, so a realm with an
 * empty log first gets one change of a `seed` user (a global key, so it
 * lands in every realm's log).
 */
export async function latestCursor(
  t: TestSystem,
  realm: string,
): Promise<string> {
  const store = t.system.state.store;
  let cursor = await store.latestCursor(realm);
  if (cursor === null) {
    await t.system.preferences.write({
      realm,
      userId: 'seed',
      changes: [
        { key: 'locale', value: 'en-GB', scope: null, path: ['values', 0] },
      ],
      expectedVersion: null,
      writer: null,
      globalLayerWritable: true,
      actor: 'seed',
      requestId: randomUUID(),
    });
    cursor = await store.latestCursor(realm);
  }
  expect(cursor).not.toBeNull();
  return cursor as string;
}

/** Sets the caller's favourite teams through the sports division mutation. */
export async function setTeams(
  t: TestSystem,
  token: string,
  teams: string[],
): Promise<{ id: string; version: number }> {
  const response = await graphql<{
    updateSportsPreferences: { id: string; version: number };
  }>(
    t.url,
    /* GraphQL */ `
      mutation Teams($teams: [String!]!) {
        updateSportsPreferences(input: { favoriteTeams: $teams }) {
          id
          version
        }
      }
    `,
    { realm: 'sports', token, variables: { teams } },
  );
  expect(response.errors).toBeUndefined();
  return response.data?.updateSportsPreferences as {
    id: string;
    version: number;
  };
}

/** Sets the caller's party size through the parks division mutation. */
export async function setPartySize(
  t: TestSystem,
  token: string,
  partySize: number,
): Promise<void> {
  const response = await graphql(
    t.url,
    /* GraphQL */ `
      mutation Party($size: Int!) {
        updateParksPreferences(input: { trip: { partySize: $size } }) {
          id
        }
      }
    `,
    { realm: 'parks', token, variables: { size: partySize } },
  );
  expect(response.errors).toBeUndefined();
}

/** Sets the caller's (user-global) locale through the core mutation. */
export async function setLocale(
  t: TestSystem,
  realm: string,
  token: string,
  locale: string,
): Promise<void> {
  const response = await graphql(
    t.url,
    /* GraphQL */ `
      mutation Locale($locale: JSON!) {
        setPreferences(values: [{ key: "locale", value: $locale }]) {
          id
        }
      }
    `,
    { realm, token, variables: { locale } },
  );
  expect(response.errors).toBeUndefined();
}

/**
 * Writes favourite teams straight through the system's PreferenceService
 * (stored, logged and published like a mutation), so no gateway or
 * subgraph request is involved in the write itself.
 */
export async function writeTeamsDirectly(
  t: TestSystem,
  userId: string,
  teams: string[],
): Promise<void> {
  await t.system.preferences.write({
    realm: 'sports',
    userId,
    changes: [
      {
        key: 'sports.favoriteTeams',
        value: teams,
        scope: null,
        path: ['input', 'favoriteTeams'],
      },
    ],
    expectedVersion: null,
    writer: 'sports',
    globalLayerWritable: true,
    actor: userId,
    requestId: randomUUID(),
  });
}

/**
 * Counts HTTP requests that reach each subgraph's server (the system's
 * `subgraphServers`, in this process) until `stop()`.
 */
export function countSubgraphRequests(t: TestSystem) {
  const counts: Record<string, number> = {};
  const seen: string[] = [];
  const stops: (() => void)[] = [];
  for (const [name, running] of t.system.subgraphServers) {
    const listener = (request: IncomingMessage) => {
      counts[name] = (counts[name] ?? 0) + 1;
      seen.push(`${name} ${request.method ?? ''} ${request.url ?? ''}`);
    };
    running.server.on('request', listener);
    stops.push(() => running.server.off('request', listener));
  }
  return {
    counts,
    seen,
    stop: () => {
      for (const stop of stops.splice(0)) stop();
    },
  };
}

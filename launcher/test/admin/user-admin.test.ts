import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  IDENTITY_HEADER,
  IdentitySigner,
  loadInternalSecret,
  RedisPreferenceStore,
  type Role,
} from '@realms/platform';
import {
  graphql,
  REDIS_URL,
  startTestSystem,
  type Backend,
  type GraphQLResponse,
  type TestSystem,
} from '../support/test-system.js';
import { WsClients } from '../support/ws-client.js';
import {
  freePort,
  runNpm,
  waitForOk,
  type ServiceProcess,
} from '../support/processes.js';
import {
  latestCursor,
  OWN_CHANGES,
  REALM_CHANGES,
  type RealmChangeData,
} from '../subscriptions/support.js';

/*
 * The user-management and visibility admin API end to end, through the
 * gateway: the realm overview (with active subscriptions reported by the
 * gateway), preference search, a realm's users, granted and revoked roles,
 * disabling (HTTP and subscribe refused at once), erasure (nothing of the
 * user left in the realm but the audit log and change log entries) and
 * usage analytics, with refusals for the wrong role.
 */

const SET_VALUES = /* GraphQL */ `
  mutation ($values: [PreferenceValueInput!]!) {
    setPreferences(values: $values) {
      id
      version
    }
  }
`;

const OVERVIEW = /* GraphQL */ `
  query ($realm: ID) {
    realmOverview(realm: $realm) {
      realmId
      users
      writesLastHour
      writesLastDay
      activeSubscriptions
    }
  }
`;

const SEARCH = /* GraphQL */ `
  query ($key: String!, $value: JSON, $realm: ID, $first: Int, $after: String) {
    searchPreferences(
      key: $key
      value: $value
      realm: $realm
      first: $first
      after: $after
    ) {
      items {
        preference {
          id
        }
        value
        source
      }
      scanned
      nextCursor
    }
  }
`;

const REALM_USERS = /* GraphQL */ `
  query ($realm: ID) {
    realmUsers(realm: $realm) {
      items {
        userId
        preference {
          id
          version
        }
        access {
          disabled
          grantedRoles
          revokedRoles
        }
      }
      nextCursor
    }
  }
`;

const ACCESS_FIELDS = 'realmId userId disabled grantedRoles revokedRoles';

const GRANT = /* GraphQL */ `
  mutation ($realm: ID, $userId: ID!, $role: RealmRole!) {
    grantRealmRole(realm: $realm, userId: $userId, role: $role) {
      ${ACCESS_FIELDS}
    }
  }
`;

const REVOKE = /* GraphQL */ `
  mutation ($realm: ID, $userId: ID!, $role: RealmRole!) {
    revokeRealmRole(realm: $realm, userId: $userId, role: $role) {
      ${ACCESS_FIELDS}
    }
  }
`;

const DISABLE = /* GraphQL */ `
  mutation ($realm: ID, $userId: ID!) {
    disableUser(realm: $realm, userId: $userId) {
      ${ACCESS_FIELDS}
    }
  }
`;

const ENABLE = /* GraphQL */ `
  mutation ($realm: ID, $userId: ID!) {
    enableUser(realm: $realm, userId: $userId) {
      ${ACCESS_FIELDS}
    }
  }
`;

const ERASE = /* GraphQL */ `
  mutation ($realm: ID, $userId: ID!) {
    erasePreferences(realm: $realm, userId: $userId) {
      preferenceId
      erasedKeys
      auditId
    }
  }
`;

const USAGE = /* GraphQL */ `
  query ($realm: ID, $days: Int, $topKeys: Int) {
    realmUsage(realm: $realm, days: $days, topKeys: $topKeys) {
      realmId
      date
      writes
      activeUsers
      topKeys {
        key
        writes
      }
    }
  }
`;

const MY_PREFERENCES = /* GraphQL */ `
  {
    myPreferences {
      id
      version
    }
  }
`;

function codes(response: GraphQLResponse): unknown[] {
  return (response.errors ?? []).map((e) => e.extensions?.['code']);
}

function expectOk(response: GraphQLResponse): void {
  expect(response.errors, JSON.stringify(response)).toBeUndefined();
}

function expectRefused(response: GraphQLResponse, code = 'FORBIDDEN'): void {
  expect(codes(response), JSON.stringify(response)).toEqual([code]);
}

describe.each<Backend>(['memory', 'redis'])(
  'user administration over %s state',
  (backend) => {
    let t: TestSystem;
    const clients = new WsClients(() => t.url);
    /** Each test's users are its own: state is shared across the file. */
    let run = 0;
    const name = (base: string) => `${base}-${run}`;

    const as = async (realm: string, userId: string, roles: Role[]) => ({
      realm,
      token: await t.token(realm, userId, roles),
    });
    const ask = (
      caller: { realm: string; token: string },
      query: string,
      variables: Record<string, unknown> = {},
    ) => graphql(t.url, query, { ...caller, variables });
    const write = async (
      realm: string,
      userId: string,
      values: { key: string; value: unknown; scope?: string }[],
    ) => {
      const response = await ask(
        await as(realm, userId, ['user']),
        SET_VALUES,
        {
          values,
        },
      );
      expectOk(response);
    };

    beforeAll(async () => {
      t = await startTestSystem(backend);
    });
    afterEach(async () => {
      run += 1;
      await clients.disposeAll();
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('shows a platform admin every realm and a realm admin only their own, with users, recent writes and open subscriptions', async () => {
      const platform = await as('sports', name('root'), ['platform-admin']);
      const before = await ask(platform, OVERVIEW);
      expectOk(before);
      type Overview = Record<string, number> & { realmId?: unknown };
      const counts = (response: GraphQLResponse, realm: string): Overview =>
        (response.data?.['realmOverview'] as Overview[]).find(
          (o) => o.realmId === realm,
        ) as Overview;
      const sportsBefore = counts(before, 'sports');
      expect(
        (before.data?.['realmOverview'] as { realmId: string }[])
          .map((o) => o.realmId)
          .sort(),
      ).toEqual(['entertainment', 'parks', 'sports']);

      await write('sports', name('u1'), [
        { key: 'theme', value: 'dark', scope: 'REALM' },
      ]);
      await write('sports', name('u2'), [
        { key: 'theme', value: 'light', scope: 'REALM' },
      ]);
      await write('sports', name('u1'), [
        { key: 'theme', value: 'light', scope: 'REALM' },
      ]);
      const subscriber = clients.connect({
        realm: 'sports',
        token: (await as('sports', name('u1'), ['user'])).token,
        keepOpen: true,
      });
      const feed = subscriber.subscribe({
        query: OWN_CHANGES,
        variables: { after: await latestCursor(t, 'sports') },
      });
      // Counted once the server subscribed: a write then reaches it.
      await write('sports', name('u1'), [
        { key: 'theme', value: 'dark', scope: 'REALM' },
      ]);
      await feed.take(1);
      await t.system.subscriptionReporter.report();

      const after = await ask(platform, OVERVIEW);
      expectOk(after);
      expect(counts(after, 'sports')).toEqual({
        realmId: 'sports',
        users: sportsBefore['users']! + 2,
        writesLastHour: sportsBefore['writesLastHour']! + 4,
        writesLastDay: sportsBefore['writesLastDay']! + 4,
        activeSubscriptions: sportsBefore['activeSubscriptions']! + 1,
      });

      const admin = await as('sports', name('admin'), ['realm-admin']);
      const own = await ask(admin, OVERVIEW);
      expectOk(own);
      expect(own.data?.['realmOverview']).toEqual([counts(after, 'sports')]);
      expectRefused(await ask(admin, OVERVIEW, { realm: 'parks' }));
      expectRefused(
        await ask(await as('sports', name('u1'), ['user']), OVERVIEW),
      );
      const parksAdmin = await as('parks', name('padmin'), ['realm-admin']);
      expectRefused(await ask(parksAdmin, OVERVIEW, { realm: 'sports' }));

      // The server ends the subscription once it sees the socket close.
      await subscriber.dispose();
      let open = -1;
      for (
        let i = 0;
        i < 100 && open !== sportsBefore['activeSubscriptions'];
        i++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        await t.system.subscriptionReporter.report();
        const closed = await ask(platform, OVERVIEW, { realm: 'sports' });
        open =
          (closed.data?.['realmOverview'] as Record<string, number>[])[0]?.[
            'activeSubscriptions'
          ] ?? -1;
      }
      expect(open).toBe(sportsBefore['activeSubscriptions']);
    });

    it('searches effective values across realms for platform admins, in their own realm for realm admins, in bounded pages', async () => {
      const colour = `colour-${backend}-${run}`;
      await write('sports', name('s1'), [
        { key: 'displayName', value: colour, scope: 'REALM' },
      ]);
      await write('sports', name('s2'), [
        { key: 'displayName', value: colour, scope: 'REALM' },
      ]);
      await write('parks', name('p1'), [
        { key: 'displayName', value: colour, scope: 'REALM' },
      ]);
      await write('parks', name('p2'), [
        { key: 'displayName', value: 'other', scope: 'REALM' },
      ]);

      const platform = await as('sports', name('root'), ['platform-admin']);
      const all = await ask(platform, SEARCH, {
        key: 'displayName',
        value: colour,
      });
      expectOk(all);
      const page = all.data?.['searchPreferences'] as {
        items: { preference: { id: string }; value: unknown; source: string }[];
        nextCursor: string | null;
      };
      expect(page.items.map((i) => i.preference.id).sort()).toEqual(
        [
          `parks:${name('p1')}`,
          `sports:${name('s1')}`,
          `sports:${name('s2')}`,
        ].sort(),
      );
      expect(page.items.every((i) => i.source === 'USER_REALM')).toBe(true);
      expect(page.nextCursor).toBeNull();

      // One match per page, following the cursor, finds the same three.
      const found: string[] = [];
      let after: string | null = null;
      for (let i = 0; i < 10; i++) {
        const next = await ask(platform, SEARCH, {
          key: 'displayName',
          value: colour,
          first: 1,
          after,
        });
        expectOk(next);
        const p = next.data?.['searchPreferences'] as typeof page;
        found.push(...p.items.map((m) => m.preference.id));
        after = p.nextCursor;
        if (after === null) break;
      }
      expect(found.sort()).toEqual(
        page.items.map((i) => i.preference.id).sort(),
      );

      const admin = await as('parks', name('padmin'), ['realm-admin']);
      const own = await ask(admin, SEARCH, {
        key: 'displayName',
        value: colour,
      });
      expectOk(own);
      expect(
        (own.data?.['searchPreferences'] as typeof page).items.map(
          (i) => i.preference.id,
        ),
      ).toEqual([`parks:${name('p1')}`]);
      expectRefused(
        await ask(admin, SEARCH, { key: 'displayName', realm: 'sports' }),
      );
      expectRefused(
        await ask(await as('parks', name('p1'), ['user']), SEARCH, {
          key: 'displayName',
        }),
      );
    });

    it('lists a realm’s users with their access, for its admins only', async () => {
      await write('entertainment', name('e1'), [
        { key: 'displayName', value: 'x', scope: 'REALM' },
      ]);
      const admin = await as('entertainment', name('eadmin'), ['realm-admin']);
      const users = await ask(admin, REALM_USERS);
      expectOk(users);
      const items = (
        users.data?.['realmUsers'] as {
          items: { userId: string; access: unknown }[];
        }
      ).items;
      expect(items.find((u) => u.userId === name('e1'))).toEqual({
        userId: name('e1'),
        preference: { id: `entertainment:${name('e1')}`, version: 1 },
        access: { disabled: false, grantedRoles: [], revokedRoles: [] },
      });
      expectRefused(await ask(admin, REALM_USERS, { realm: 'sports' }));
      expectRefused(
        await ask(await as('entertainment', name('e1'), ['user']), REALM_USERS),
      );
    });

    it('grants and revokes realm roles, on top of the token’s, at once', async () => {
      const admin = await as('sports', name('admin'), ['realm-admin']);
      const bob = await as('sports', name('bob'), ['user']);
      expectRefused(await ask(bob, REALM_USERS));

      const granted = await ask(admin, GRANT, {
        userId: name('bob'),
        role: 'REALM_ADMIN',
      });
      expectOk(granted);
      expect(granted.data?.['grantRealmRole']).toEqual({
        realmId: 'sports',
        userId: name('bob'),
        disabled: false,
        grantedRoles: ['REALM_ADMIN'],
        revokedRoles: [],
      });
      // The same token, now with the granted role.
      expectOk(await ask(bob, REALM_USERS));
      // A grant in sports is nothing in parks.
      const bobInParks = await as('parks', name('bob'), ['user']);
      expectRefused(await ask(bobInParks, REALM_USERS));

      expectOk(
        await ask(admin, REVOKE, { userId: name('bob'), role: 'REALM_ADMIN' }),
      );
      expectRefused(await ask(bob, REALM_USERS));

      // A role the token carries can be revoked too, and granted back.
      const carol = await as('sports', name('carol'), ['realm-admin']);
      expectOk(await ask(carol, REALM_USERS));
      const revoked = await ask(admin, REVOKE, {
        userId: name('carol'),
        role: 'REALM_ADMIN',
      });
      expect(revoked.data?.['revokeRealmRole']).toMatchObject({
        grantedRoles: [],
        revokedRoles: ['REALM_ADMIN'],
      });
      expectRefused(await ask(carol, REALM_USERS));
      expectOk(
        await ask(admin, GRANT, { userId: name('carol'), role: 'REALM_ADMIN' }),
      );
      expectOk(await ask(carol, REALM_USERS));

      // Nobody changes their own roles; others are refused.
      expectRefused(
        await ask(admin, REVOKE, {
          userId: name('admin'),
          role: 'REALM_ADMIN',
        }),
        'BAD_USER_INPUT',
      );
      expectRefused(
        await ask(bob, GRANT, { userId: name('bob'), role: 'REALM_ADMIN' }),
      );
      const parksAdmin = await as('parks', name('padmin'), ['realm-admin']);
      expectRefused(
        await ask(parksAdmin, GRANT, {
          realm: 'sports',
          userId: name('bob'),
          role: 'REALM_ADMIN',
        }),
      );

      const audit = await t.system.state.store.readAudit({
        realm: 'sports',
        target: `sports:${name('bob')}`,
        limit: 10,
      });
      // Newest first: bob's own refused grant (in the request's realm,
      // which is the target's), then the admin's two changes.
      expect(audit.entries.map((e) => e.outcome)).toEqual([
        'FORBIDDEN',
        'ACCEPTED',
        'ACCEPTED',
      ]);
      expect(audit.entries.at(-1)?.changes).toEqual([
        {
          key: 'access.grantedRoles',
          layer: 'REALM',
          before: [],
          after: ['realm-admin'],
        },
      ]);
    });

    it('refuses a disabled user at once over HTTP, at connection and at every subscribe, and lets them in again when enabled', async () => {
      const admin = await as('sports', name('admin'), ['realm-admin']);
      const dave = await as('sports', name('dave'), ['user']);
      expectOk(await ask(dave, MY_PREFERENCES));
      const open = clients.connect({ ...dave, keepOpen: true });
      const before = open.subscribe({
        query: OWN_CHANGES,
        variables: { after: await latestCursor(t, 'sports') },
      });
      // Live before the admin acts: a write of dave's reaches it.
      await write('sports', name('dave'), [
        { key: 'theme', value: 'light', scope: 'REALM' },
      ]);
      await before.take(1);

      const disabled = await ask(admin, DISABLE, { userId: name('dave') });
      expectOk(disabled);
      expect(disabled.data?.['disableUser']).toMatchObject({ disabled: true });

      const refused = await ask(dave, MY_PREFERENCES);
      expectRefused(refused, 'UNAUTHENTICATED');
      expect(refused.errors?.[0]?.message).toBe(
        'This user is disabled in this realm.',
      );
      // Writes too: nothing of theirs passes.
      expectRefused(
        await ask(dave, SET_VALUES, {
          values: [{ key: 'theme', value: 'dark' }],
        }),
        'UNAUTHENTICATED',
      );

      // A subscribe on the connection opened before is refused …
      const later = open.subscribe({ query: OWN_CHANGES, variables: {} });
      await later.end();
      expect(later.errorCodes()).toEqual(['UNAUTHENTICATED']);
      // … and a new connection is not accepted at all.
      const fresh = clients.connect({ ...dave, keepOpen: true });
      expect((await fresh.closed()).code).toBe(4401);
      // The subscription opened before gets no further change: at its
      // next event the connection is closed instead.
      await t.system.preferences.write({
        realm: 'sports',
        userId: name('dave'),
        changes: [
          { key: 'theme', value: 'dark', scope: null, path: ['values', 0] },
        ],
        expectedVersion: null,
        writer: null,
        globalLayerWritable: true,
        actor: name('admin'),
        requestId: `req-${run}`,
      });
      expect((await open.closed()).code).toBe(4401);
      expect(before.results).toHaveLength(1);

      // Disabled in sports only; nobody disables themselves.
      expectOk(
        await ask(await as('parks', name('dave'), ['user']), MY_PREFERENCES),
      );
      expectRefused(
        await ask(admin, DISABLE, { userId: name('admin') }),
        'BAD_USER_INPUT',
      );
      expectRefused(
        await ask(dave, ENABLE, { userId: name('dave') }),
        'UNAUTHENTICATED',
      );
      const parksAdmin = await as('parks', name('padmin'), ['realm-admin']);
      expectRefused(
        await ask(parksAdmin, ENABLE, {
          realm: 'sports',
          userId: name('dave'),
        }),
      );

      expectOk(await ask(admin, ENABLE, { userId: name('dave') }));
      expectOk(await ask(dave, MY_PREFERENCES));
      const again = clients.connect({ ...dave, keepOpen: true });
      const feed = again.subscribe({
        query: OWN_CHANGES,
        variables: { after: await latestCursor(t, 'sports') },
      });
      await write('sports', name('dave'), [{ key: 'theme', value: 'light' }]);
      expect((await feed.take(1))[0]?.errors).toBeUndefined();
    });

    it('has the subgraphs refuse a disabled user too, whatever the gateway forwarded', async () => {
      const admin = await as('sports', name('admin'), ['realm-admin']);
      const signer = new IdentitySigner(await loadInternalSecret(t.keysDir));
      const direct = async () => {
        const identity = await signer.sign({
          identity: { realm: 'sports', userId: name('fay'), roles: ['user'] },
          realm: 'sports',
          requestId: `req-${run}`,
        });
        const response = await fetch(t.system.subgraphUrls.core, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [IDENTITY_HEADER]: identity,
          },
          body: JSON.stringify({ query: '{ myPreferences { id } }' }),
        });
        return (await response.json()) as GraphQLResponse;
      };
      expectOk(await direct());
      expectOk(await ask(admin, DISABLE, { userId: name('fay') }));
      expectRefused(await direct(), 'UNAUTHENTICATED');
    });

    it('erases a user’s values in a realm, with an audit record and a change event, keeping their global values', async () => {
      const erin = name('erin');
      const secret = `secret-${backend}-${run}`;
      await write('sports', erin, [
        { key: 'displayName', value: secret, scope: 'REALM' },
        { key: 'theme', value: 'dark', scope: 'REALM' },
        { key: 'locale', value: 'fr-FR', scope: 'GLOBAL' },
      ]);
      await write('parks', erin, [
        { key: 'displayName', value: 'kept', scope: 'REALM' },
      ]);
      const admin = await as('sports', name('admin'), ['realm-admin']);
      const watcher = clients.connect({ ...admin, keepOpen: true });
      const changes = watcher.subscribe<RealmChangeData>({
        query: REALM_CHANGES,
        variables: { after: await latestCursor(t, 'sports') },
      });

      // Only the realm's admins (or platform admins) may erase.
      const parksAdmin = await as('parks', name('padmin'), ['realm-admin']);
      expectRefused(
        await ask(parksAdmin, ERASE, { realm: 'sports', userId: erin }),
      );
      expectRefused(
        await ask(await as('sports', erin, ['user']), ERASE, { userId: erin }),
      );

      // A read the gateway may cache; the erasure's event must drop it.
      const erinCaller = await as('sports', erin, ['user']);
      const cached = await ask(erinCaller, MY_PREFERENCES);
      expect(cached.data?.['myPreferences']).toEqual({
        id: `sports:${erin}`,
        version: 2,
      });
      expect(await ask(erinCaller, MY_PREFERENCES)).toEqual(cached);

      const erased = await ask(admin, ERASE, { userId: erin });
      expectOk(erased);
      const result = erased.data?.['erasePreferences'] as {
        erasedKeys: string[];
        auditId: string;
      };
      expect(result).toMatchObject({
        preferenceId: `sports:${erin}`,
        erasedKeys: ['displayName', 'theme'],
      });

      const [event] = await changes.take(1);
      expect(event?.data?.realmPreferenceChanged).toMatchObject({
        userId: erin,
        version: 1,
      });

      const store = t.system.state.store;
      const left = await store.read('sports', erin);
      expect(left.realmLayer.values).toEqual({});
      expect(left.globalLayer.values).toEqual({ locale: 'fr-FR' });
      expect(
        (await store.listUsers('sports', { limit: 200 })).userIds,
      ).not.toContain(erin);
      expect((await store.read('parks', erin)).realmLayer.values).toEqual({
        displayName: 'kept',
      });
      const audit = await store.readAudit({
        realm: 'sports',
        target: `sports:${erin}`,
        limit: 1,
      });
      expect(audit.entries[0]).toMatchObject({
        id: result.auditId,
        actor: name('admin'),
        outcome: 'ACCEPTED',
        changes: [
          { key: 'displayName', layer: 'REALM', before: null, after: null },
          { key: 'theme', layer: 'REALM', before: null, after: null },
        ],
      });
      const read = await ask(
        await as('sports', erin, ['user']),
        MY_PREFERENCES,
      );
      expect(read.data?.['myPreferences']).toEqual({
        id: `sports:${erin}`,
        version: 1,
      });

      if (store instanceof RedisPreferenceStore) {
        // No key of the realm holds the erased value or names the user,
        // except the audit log (append-only, by retention) and the change
        // log (ids and keys, no values).
        const redis = new Redis(REDIS_URL);
        try {
          const prefix = store.auditKey('sports').replace(/:audit$/, '');
          const keys = await redis.keys(`${prefix}:*`);
          expect(keys).not.toContain(store.realmLayerKey('sports', erin));
          for (const key of keys) {
            if (key === store.auditKey('sports')) continue;
            const type = await redis.type(key);
            const dump =
              type === 'stream'
                ? JSON.stringify(await redis.xrange(key, '-', '+'))
                : type === 'hash'
                  ? JSON.stringify(await redis.hgetall(key))
                  : type === 'zset'
                    ? JSON.stringify(await redis.zrange(key, 0, -1))
                    : '';
            expect(dump, key).not.toContain(secret);
            if (!key.endsWith(':changes'))
              expect(dump, key).not.toContain(erin);
          }
        } finally {
          redis.disconnect();
        }
      }
    });

    it('counts usage per day: writes, distinct active users and the most changed keys', async () => {
      const admin = await as('parks', name('padmin'), ['realm-admin']);
      const before = await ask(admin, USAGE, { days: 1, topKeys: 50 });
      expectOk(before);
      type Day = {
        writes: number;
        activeUsers: number;
        topKeys: { key: string; writes: number }[];
      };
      const dayBefore = (before.data?.['realmUsage'] as Day[])[0] as Day;
      const keyCount = (day: Day, key: string) =>
        day.topKeys.find((k) => k.key === key)?.writes ?? 0;

      await write('parks', name('a'), [
        { key: 'theme', value: 'dark', scope: 'REALM' },
        { key: 'displayName', value: 'a' },
      ]);
      await write('parks', name('a'), [
        { key: 'theme', value: 'light', scope: 'REALM' },
      ]);
      await write('parks', name('b'), [
        { key: 'theme', value: 'dark', scope: 'REALM' },
      ]);
      // A write that changes nothing is not usage.
      await write('parks', name('b'), [
        { key: 'theme', value: 'dark', scope: 'REALM' },
      ]);

      const after = await ask(admin, USAGE, { days: 3, topKeys: 50 });
      expectOk(after);
      const days = after.data?.['realmUsage'] as (Day & {
        date: string;
        realmId: string;
      })[];
      expect(days).toHaveLength(3);
      expect(days[0]?.date).toBe(new Date().toISOString().slice(0, 10));
      expect(days[0]?.realmId).toBe('parks');
      const today = days[0] as Day;
      expect(today.writes).toBe(dayBefore.writes + 3);
      expect(today.activeUsers).toBe(dayBefore.activeUsers + 2);
      expect(keyCount(today, 'theme')).toBe(keyCount(dayBefore, 'theme') + 3);
      expect(keyCount(today, 'displayName')).toBe(
        keyCount(dayBefore, 'displayName') + 1,
      );

      const platform = await as('sports', name('root'), ['platform-admin']);
      expectOk(await ask(platform, USAGE, { realm: 'parks' }));
      expectRefused(await ask(admin, USAGE, { realm: 'sports' }));
      expectRefused(await ask(await as('parks', name('a'), ['user']), USAGE));
      expectRefused(await ask(admin, USAGE, { days: 36 }), 'BAD_USER_INPUT');
    });
  },
);

describe('user administration seen by a second gateway process (Redis)', () => {
  let t: TestSystem;
  const processes: ServiceProcess[] = [];

  beforeAll(async () => {
    t = await startTestSystem('redis');
  });
  afterAll(async () => {
    await Promise.allSettled(processes.map((p) => p.stop()));
    await t?.stop();
  }, 30_000);

  it('refuses a user disabled through the first gateway on the second, and applies a grant there', async () => {
    const store = t.system.state.store as RedisPreferenceStore;
    const prefix = store.auditKey('sports').replace(/:\{sports\}:audit$/, '');
    const port = await freePort();
    const urls = t.system.subgraphUrls;
    processes.push(
      runNpm(['start:gateway'], {
        REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        REALMS_KEYS_DIR: t.keysDir,
        LOG_LEVEL: 'warn',
        PORT: String(port),
        CORE_URL: urls.core,
        SPORTS_URL: urls.sports,
        ENTERTAINMENT_URL: urls.entertainment,
        PARKS_URL: urls.parks,
      }),
    );
    await waitForOk(`http://127.0.0.1:${port}/health/ready`, 90_000).catch(
      (error: Error) => {
        throw new Error(
          `${error.message}\n${processes.map((p) => p.output()).join('\n')}`,
        );
      },
    );
    const second = `http://127.0.0.1:${port}/graphql`;
    // The second gateway hears of each change on the bus, usually before
    // the mutation has answered but not always (its event loop may take
    // the next request first): wait for it, at most 5 s.
    const onSecond = async (
      query: string,
      caller: { realm: string; token: string },
      check: (response: GraphQLResponse) => void,
    ) => {
      for (let attempt = 0; ; attempt++) {
        const response = await graphql(second, query, caller);
        try {
          check(response);
          return;
        } catch (error) {
          if (attempt >= 100) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    };
    const admin = {
      realm: 'sports',
      token: await t.token('sports', 'ops', ['realm-admin']),
    };
    const gus = {
      realm: 'sports',
      token: await t.token('sports', 'gus', ['user']),
    };
    expectOk(await graphql(second, MY_PREFERENCES, gus));
    expectRefused(await graphql(second, REALM_USERS, gus));

    expectOk(
      await graphql(t.url, GRANT, {
        ...admin,
        variables: { userId: 'gus', role: 'REALM_ADMIN' },
      }),
    );
    await onSecond(REALM_USERS, gus, expectOk);

    expectOk(
      await graphql(t.url, DISABLE, { ...admin, variables: { userId: 'gus' } }),
    );
    await onSecond(MY_PREFERENCES, gus, (response) =>
      expectRefused(response, 'UNAUTHENTICATED'),
    );

    expectOk(
      await graphql(t.url, ENABLE, { ...admin, variables: { userId: 'gus' } }),
    );
    await onSecond(MY_PREFERENCES, gus, expectOk);
  }, 120_000);
});

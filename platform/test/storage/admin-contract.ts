import { expect, it } from 'vitest';
import type { AdminAuditInput } from '../../src/storage/admin-state.js';
import type {
  PreferenceStore,
  WriteMetadata,
  WritePlanner,
} from '../../src/storage/preference-store.js';

/** The store settings the admin contract needs to set. */
interface AdminTestOptions {
  readonly clock?: () => Date;
}

/** Opens a fresh store, disposed of when the test ends. */
type OpenStore = (options?: AdminTestOptions) => Promise<PreferenceStore>;

const REALMS = ['sports', 'parks', 'entertainment'];
const START_MS = Date.parse('2030-01-01T10:30:00.000Z');
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
const META: WriteMetadata = { actor: 'alice', requestId: 'req-1' };

/** A clock the test moves by hand. */
function manualClock(startMs = START_MS) {
  let nowMs = startMs;
  return {
    now: () => new Date(nowMs),
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

function admin(target: string, realm = 'sports'): AdminAuditInput {
  return {
    realm,
    actor: 'ops',
    actorRoles: ['realm-admin'],
    target,
    outcome: 'ACCEPTED',
    requestId: 'req-admin',
    clientAddress: '203.0.113.7',
    errorCode: null,
  };
}

function setValues(
  realm: Record<string, unknown>,
  global: Record<string, unknown> = {},
): WritePlanner {
  return () => ({
    realmPatch: { set: realm, unset: [] },
    globalPatch: { set: global, unset: [] },
  });
}

/**
 * What every store keeps for administration: user access, erasure, usage
 * analytics and subscription reports.
 */
export function describeAdminContract(open: OpenStore) {
  it('keeps user access per realm: grants, revocations, disabling', async () => {
    const store = await open();
    expect(await store.readUserAccess('sports', 'bob')).toEqual({
      disabled: false,
      grantedRoles: [],
      revokedRoles: [],
      updatedAt: null,
    });

    const granted = await store.updateUserAccess(
      'sports',
      'bob',
      { grant: 'realm-admin' },
      admin('sports:bob'),
    );
    expect(granted.access.grantedRoles).toEqual(['realm-admin']);
    expect(granted.audit).toMatchObject({
      realm: 'sports',
      target: 'sports:bob',
      outcome: 'ACCEPTED',
      changes: [
        {
          key: 'access.grantedRoles',
          layer: 'REALM',
          before: [],
          after: ['realm-admin'],
        },
      ],
    });

    const disabled = await store.updateUserAccess(
      'sports',
      'bob',
      { disabled: true },
      admin('sports:bob'),
    );
    expect(disabled.access).toMatchObject({
      disabled: true,
      grantedRoles: ['realm-admin'],
      revokedRoles: [],
    });
    expect(disabled.before.disabled).toBe(false);
    expect(await store.readUserAccess('sports', 'bob')).toEqual(
      disabled.access,
    );
    // Another realm's bob is another user.
    expect((await store.readUserAccess('parks', 'bob')).disabled).toBe(false);
    expect([...(await store.listUserAccess('sports')).keys()]).toEqual(['bob']);
    expect((await store.listUserAccess('parks')).size).toBe(0);

    // Revoking a granted role withdraws the grant and holds against
    // tokens; granting it again withdraws the revocation.
    const revoked = await store.updateUserAccess(
      'sports',
      'bob',
      { revoke: 'realm-admin' },
      admin('sports:bob'),
    );
    expect(revoked.access).toMatchObject({
      grantedRoles: [],
      revokedRoles: ['realm-admin'],
    });
    const regranted = await store.updateUserAccess(
      'sports',
      'bob',
      { grant: 'realm-admin' },
      admin('sports:bob'),
    );
    expect(regranted.access).toMatchObject({
      disabled: true,
      grantedRoles: ['realm-admin'],
      revokedRoles: [],
    });
    const audit = await store.readAudit({
      realm: 'sports',
      target: 'sports:bob',
      limit: 10,
    });
    expect(audit.entries).toHaveLength(4);
  });

  it('forgets access that is back to the default', async () => {
    const store = await open();
    await store.updateUserAccess(
      'sports',
      'bob',
      { disabled: true },
      admin('sports:bob'),
    );
    const enabled = await store.updateUserAccess(
      'sports',
      'bob',
      { disabled: false },
      admin('sports:bob'),
    );
    expect(enabled.access.disabled).toBe(false);
    expect((await store.listUserAccess('sports')).size).toBe(0);
  });

  it('applies concurrent access changes of one user without losing any', async () => {
    const store = await open();
    await Promise.all([
      store.updateUserAccess(
        'sports',
        'bob',
        { grant: 'realm-admin' },
        admin('sports:bob'),
      ),
      store.updateUserAccess(
        'sports',
        'bob',
        { disabled: true },
        admin('sports:bob'),
      ),
    ]);
    expect(await store.readUserAccess('sports', 'bob')).toMatchObject({
      disabled: true,
      grantedRoles: ['realm-admin'],
      revokedRoles: [],
    });
  });

  it('erases a user in one realm: layer, index entry; event and audit without values', async () => {
    const store = await open();
    await store.write(
      'sports',
      'alice',
      setValues({ theme: 'dark', 'sports.x': 1 }, { locale: 'fr-FR' }),
      META,
      REALMS,
    );
    await store.write(
      'parks',
      'alice',
      setValues({ theme: 'x' }),
      META,
      REALMS,
    );
    await store.write('sports', 'bob', setValues({ theme: 'y' }), META, REALMS);

    const erased = await store.erasePreferences(
      'sports',
      'alice',
      admin('sports:alice'),
    );
    expect(erased.erasedKeys).toEqual(['sports.x', 'theme']);
    expect(erased.event).toMatchObject({
      realm: 'sports',
      userId: 'alice',
      preferenceId: 'sports:alice',
      changedKeys: ['sports.x', 'theme'],
      actor: 'ops',
      // The realm layer is gone: what is left is the global layer's.
      version: 1,
    });
    expect(erased.audit.changes).toEqual([
      { key: 'sports.x', layer: 'REALM', before: null, after: null },
      { key: 'theme', layer: 'REALM', before: null, after: null },
    ]);
    expect(JSON.stringify(erased)).not.toContain('dark');

    const left = await store.read('sports', 'alice');
    expect(left.realmLayer).toEqual({
      version: 0,
      updatedAt: null,
      values: {},
    });
    expect(left.globalLayer.values).toEqual({ locale: 'fr-FR' });
    expect((await store.listUsers('sports', { limit: 10 })).userIds).toEqual([
      'bob',
    ]);
    expect(await store.countUsers('sports')).toBe(1);
    expect((await store.read('parks', 'alice')).realmLayer.values).toEqual({
      theme: 'x',
    });
    const changes = await store.readChanges('sports', null, 100);
    expect(changes.events.at(-1)).toEqual(erased.event);
    const audit = await store.readAudit({
      realm: 'sports',
      target: 'sports:alice',
      limit: 1,
    });
    expect(audit.entries[0]).toEqual(erased.audit);
  });

  it('erases a user with nothing stored: an audit record, no event', async () => {
    const store = await open();
    const erased = await store.erasePreferences(
      'sports',
      'nobody',
      admin('sports:nobody'),
    );
    expect(erased).toMatchObject({ erasedKeys: [], event: null });
    expect((await store.readChanges('sports', null, 10)).events).toEqual([]);
    expect(
      (await store.readAudit({ realm: 'sports', limit: 10 })).entries,
    ).toHaveLength(1);
  });

  it('counts usage per realm and day: writes, active users, changed keys', async () => {
    const clock = manualClock();
    const store = await open({ clock: clock.now });
    await store.write('sports', 'a', setValues({ k1: 1 }), META, REALMS);
    await store.write('sports', 'a', setValues({ k1: 2, k2: 1 }), META, REALMS);
    await store.write('sports', 'b', setValues({ k1: 3 }), META, REALMS);
    // A no-op is no usage; nor is a write that says so (a migration).
    await store.write('sports', 'b', () => null, META, REALMS);
    await store.write(
      'sports',
      'c',
      setValues({ k3: 1 }),
      { ...META, countsAsUsage: false },
      REALMS,
    );
    await store.write('parks', 'a', setValues({ p: 1 }), META, REALMS);
    clock.advance(DAY_MS);
    await store.write('sports', 'c', setValues({ k2: 5 }), META, REALMS);

    const [today, yesterday, before] = await store.readUsage(
      'sports',
      ['2030-01-02', '2030-01-01', '2029-12-31'],
      2,
    );
    expect(yesterday).toEqual({
      date: '2030-01-01',
      writes: 3,
      activeUsers: 2,
      topKeys: [
        { key: 'k1', writes: 3 },
        { key: 'k2', writes: 1 },
      ],
    });
    expect(today).toEqual({
      date: '2030-01-02',
      writes: 1,
      activeUsers: 1,
      topKeys: [{ key: 'k2', writes: 1 }],
    });
    expect(before).toEqual({
      date: '2029-12-31',
      writes: 0,
      activeUsers: 0,
      topKeys: [],
    });
    const [parks] = await store.readUsage('parks', ['2030-01-01'], 10);
    expect(parks).toMatchObject({ writes: 1, activeUsers: 1 });
  });

  it('counts writes in the trailing hour and day, to the minute', async () => {
    const clock = manualClock();
    const store = await open({ clock: clock.now });
    const write = (n: number) =>
      store.write('sports', 'a', setValues({ n }), META, REALMS);

    await write(1); // 10:30
    clock.advance(2 * HOUR_MS);
    await write(2); // 12:30
    clock.advance(90 * MINUTE_MS);
    await write(3); // 14:00
    await write(4);
    expect(await store.readRecentWrites('sports')).toEqual({
      lastHour: 2,
      lastDay: 4,
    });
    clock.advance(61 * MINUTE_MS);
    expect(await store.readRecentWrites('sports')).toEqual({
      lastHour: 0,
      lastDay: 4,
    });
    clock.advance(20 * HOUR_MS);
    // 24h31m after the first write, 22h31m after the second.
    expect(await store.readRecentWrites('sports')).toEqual({
      lastHour: 0,
      lastDay: 3,
    });
    expect(await store.readRecentWrites('parks')).toEqual({
      lastHour: 0,
      lastDay: 0,
    });
  });

  it('sums subscription reports of live gateways per realm', async () => {
    const store = await open();
    await store.reportSubscriptions(
      'gw-1',
      new Map([
        ['sports', 3],
        ['parks', 1],
      ]),
      60_000,
    );
    await store.reportSubscriptions('gw-2', new Map([['sports', 2]]), 60_000);
    expect(await store.countSubscriptions('sports')).toBe(5);
    expect(await store.countSubscriptions('parks')).toBe(1);
    expect(await store.countSubscriptions('entertainment')).toBe(0);

    // A new report replaces the gateway's old one; 0 withdraws it.
    await store.reportSubscriptions(
      'gw-1',
      new Map([
        ['sports', 1],
        ['parks', 0],
      ]),
      60_000,
    );
    expect(await store.countSubscriptions('sports')).toBe(3);
    expect(await store.countSubscriptions('parks')).toBe(0);
  });

  it('drops the report of a gateway that stopped reporting', async () => {
    const clock = manualClock();
    const store = await open({ clock: clock.now });
    // The report holds 1 ms, so it has lapsed by the time it is read (in
    // Redis by key expiry, in memory by the clock).
    await store.reportSubscriptions('gw-dead', new Map([['sports', 4]]), 1);
    clock.advance(MINUTE_MS);
    await store.reportSubscriptions(
      'gw-live',
      new Map([['sports', 1]]),
      60_000,
    );
    let count = await store.countSubscriptions('sports');
    for (let i = 0; i < 50 && count !== 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      count = await store.countSubscriptions('sports');
    }
    expect(count).toBe(1);
  });

  it('drops access, usage and subscription reports with the realm', async () => {
    const store = await open();
    await store.write('sports', 'a', setValues({ k: 1 }), META, REALMS);
    await store.updateUserAccess(
      'sports',
      'a',
      { disabled: true },
      admin('sports:a'),
    );
    await store.reportSubscriptions('gw', new Map([['sports', 2]]), 60_000);
    await store.dropRealm('sports');
    expect((await store.readUserAccess('sports', 'a')).disabled).toBe(false);
    expect(await store.countSubscriptions('sports')).toBe(0);
    expect(await store.readRecentWrites('sports')).toEqual({
      lastHour: 0,
      lastDay: 0,
    });
  });
}

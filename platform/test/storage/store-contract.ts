import { GraphQLError } from 'graphql';
import { describe, expect, it, onTestFinished } from 'vitest';
import { compareCursors } from '../../src/change-feed/change-event.js';
import { describeAdminContract } from './admin-contract.js';
import { describeAuditContract } from './audit-contract.js';
import type {
  LayerPatch,
  PlannedWrite,
  PreferenceStore,
  StoredPreference,
  WritePlanner,
} from '../../src/storage/preference-store.js';

/** Store settings a contract test may need to shrink. */
export interface StoreTestOptions {
  readonly changeLogMaxLength?: number;
  readonly auditRetentionDays?: number;
  /** The store's time source, so tests can age audit records. */
  readonly clock?: () => Date;
}

/** Builds one fresh, empty store and the function that disposes of it. */
export type MakeStore = (options?: StoreTestOptions) => Promise<{
  store: PreferenceStore;
  cleanup: () => Promise<void>;
}>;

const META = { actor: 'admin-1', requestId: 'req-1' };
const REALMS = ['sports', 'parks', 'entertainment'];
const NO_CHANGE: LayerPatch = { set: {}, unset: [] };

function patch(set: Record<string, unknown>, unset: string[] = []): LayerPatch {
  return { set, unset };
}

/** A planner that always returns the same write. */
function fixed(write: Partial<PlannedWrite>): WritePlanner {
  return () => ({
    realmPatch: write.realmPatch ?? NO_CHANGE,
    globalPatch: write.globalPatch ?? NO_CHANGE,
  });
}

/** A planner that increments a realm-layer counter: a read-modify-write. */
function increment(key: string): WritePlanner {
  return (current: StoredPreference) => {
    const now = current.realmLayer.values[key];
    return fixed({ realmPatch: patch({ [key]: Number(now ?? 0) + 1 }) })(
      current,
    );
  };
}

/**
 * The behaviour every PreferenceStore must show. Each test gets a fresh
 * store from `makeStore`, disposed of when the test ends.
 */
export function describeStoreContract(name: string, makeStore: MakeStore) {
  async function open(options?: StoreTestOptions): Promise<PreferenceStore> {
    const { store, cleanup } = await makeStore(options);
    onTestFinished(cleanup);
    return store;
  }

  describe(`${name}: PreferenceStore contract`, () => {
    describeReadsAndWrites(open);
    describeConcurrency(open);
    describeListing(open);
    describeChangeLog(open);
    describeRealmPartitions(open);
  });
  describe(`${name}: AuditLog contract`, () => {
    describeAuditContract(open);
  });
  describe(`${name}: administration contract`, () => {
    describeAdminContract(open);
  });
}

type Open = (options?: StoreTestOptions) => Promise<PreferenceStore>;

function describeReadsAndWrites(open: Open) {
  it('reads a never-written user as two empty layers', async () => {
    const store = await open();
    const empty = { version: 0, updatedAt: null, values: {} };
    expect(await store.read('sports', 'u1')).toEqual({
      realm: 'sports',
      userId: 'u1',
      realmLayer: empty,
      globalLayer: empty,
    });
  });

  it('writes a realm key: version 1 and one event with a cursor', async () => {
    const store = await open();
    const outcome = await store.write(
      'sports',
      'u1',
      fixed({ realmPatch: patch({ team: 'lions' }) }),
      META,
      REALMS,
    );

    expect(outcome.preference.realmLayer.version).toBe(1);
    expect(outcome.preference.realmLayer.values).toEqual({ team: 'lions' });
    expect(outcome.preference.globalLayer.version).toBe(0);
    expect(outcome.events).toHaveLength(1);
    const [event] = outcome.events;
    expect(event).toMatchObject({
      type: 'preference.changed',
      realm: 'sports',
      userId: 'u1',
      preferenceId: 'sports:u1',
      changedKeys: ['team'],
      version: 1,
      actor: 'admin-1',
      originRealm: 'sports',
      requestId: 'req-1',
    });
    expect(event?.cursor.startsWith('sports/')).toBe(true);
    expect(event?.at).toBe(outcome.preference.realmLayer.updatedAt);
    expect(await store.read('sports', 'u1')).toEqual(outcome.preference);
  });

  it('writes a global key: an event in every realm, and it follows the user', async () => {
    const store = await open();
    await store.write(
      'parks',
      'u1',
      fixed({ realmPatch: patch({ a: 1 }) }),
      META,
      REALMS,
    );
    await store.write(
      'parks',
      'u1',
      fixed({ realmPatch: patch({ a: 2 }) }),
      META,
      REALMS,
    );
    const outcome = await store.write(
      'sports',
      'u1',
      fixed({
        realmPatch: patch({ team: 'lions' }),
        globalPatch: patch({ locale: 'de' }),
      }),
      META,
      REALMS,
    );

    expect(outcome.events.map((e) => e.realm)).toEqual(REALMS);
    const byRealm = new Map(outcome.events.map((e) => [e.realm, e]));
    expect(byRealm.get('sports')).toMatchObject({
      changedKeys: ['team', 'locale'],
      version: 2,
    });
    expect(byRealm.get('parks')).toMatchObject({
      changedKeys: ['locale'],
      version: 3,
      originRealm: 'sports',
      preferenceId: 'parks:u1',
    });
    expect(byRealm.get('entertainment')).toMatchObject({ version: 1 });

    const parks = await store.read('parks', 'u1');
    expect(parks.globalLayer).toMatchObject({
      version: 1,
      values: { locale: 'de' },
    });
    expect(parks.realmLayer.values).toEqual({ a: 2 });
    const log = await store.readChanges('parks', null, 10);
    expect(log.events.at(-1)).toEqual(byRealm.get('parks'));
  });

  it('unsets keys and leaves an untouched layer at its version', async () => {
    const store = await open();
    await store.write(
      'sports',
      'u1',
      fixed({
        realmPatch: patch({ a: 1, b: 2 }),
        globalPatch: patch({ g: 1 }),
      }),
      META,
      ['sports'],
    );
    const outcome = await store.write(
      'sports',
      'u1',
      fixed({ realmPatch: patch({}, ['a']) }),
      META,
      ['sports'],
    );
    expect(outcome.preference.realmLayer).toMatchObject({
      version: 2,
      values: { b: 2 },
    });
    expect(outcome.preference.globalLayer.version).toBe(1);
    expect(outcome.events[0]).toMatchObject({ changedKeys: ['a'], version: 3 });
  });

  it('stores nothing and emits nothing when the planner returns null', async () => {
    const store = await open();
    const outcome = await store.write('sports', 'u1', () => null, META, REALMS);
    expect(outcome.events).toEqual([]);
    expect(outcome.preference.realmLayer.version).toBe(0);
    expect((await store.readChanges('sports', null, 10)).events).toEqual([]);
    expect((await store.listUsers('sports', { limit: 10 })).userIds).toEqual(
      [],
    );
  });

  it('stores nothing when the planner throws', async () => {
    const store = await open();
    const refusal = new GraphQLError('refused');
    const planner = () => {
      throw refusal;
    };
    await expect(
      store.write('sports', 'u1', planner, META, REALMS),
    ).rejects.toBe(refusal);
    expect((await store.read('sports', 'u1')).realmLayer.version).toBe(0);
    expect((await store.readChanges('sports', null, 10)).events).toEqual([]);
  });
}

function describeConcurrency(open: Open) {
  it('applies 20 parallel writes with no lost update', async () => {
    const store = await open();
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    const outcomes = await Promise.all(
      keys.map((key) =>
        store.write(
          'sports',
          'u1',
          fixed({ realmPatch: patch({ [key]: key }) }),
          META,
          ['sports'],
        ),
      ),
    );

    const versions = outcomes.map((o) => o.preference.realmLayer.version);
    expect([...versions].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const stored = await store.read('sports', 'u1');
    expect(stored.realmLayer.version).toBe(20);
    expect(Object.keys(stored.realmLayer.values).sort()).toEqual(
      [...keys].sort(),
    );
    expect((await store.readChanges('sports', null, 100)).events).toHaveLength(
      20,
    );
  });

  it('re-plans a write that lost a race, on top of the winner', async () => {
    const store = await open();
    let plans = 0;
    const counted: WritePlanner = (current) => {
      plans++;
      return increment('n')(current);
    };
    // On its first call, this planner starts a competing write of the same
    // counter between its own read and commit. Whichever write commits
    // second must lose its compare-and-set and plan again on top of the
    // first; a lost update would leave n at 1.
    let competing: Promise<unknown> | undefined;
    const racing: WritePlanner = (current) => {
      competing ??= store.write('sports', 'u1', counted, META, ['sports']);
      return counted(current);
    };

    await store.write('sports', 'u1', racing, META, ['sports']);
    await competing;
    const stored = await store.read('sports', 'u1');
    expect(stored.realmLayer.values).toEqual({ n: 2 });
    expect(stored.realmLayer.version).toBe(2);
    expect(plans).toBe(3);
  });
}

function describeListing(open: Open) {
  it('reads many users in input order', async () => {
    const store = await open();
    for (const userId of ['a', 'b', 'c']) {
      await store.write(
        'sports',
        userId,
        fixed({ realmPatch: patch({ who: userId }) }),
        META,
        ['sports'],
      );
    }
    const many = await store.readMany('sports', ['c', 'zz', 'a']);
    expect(many.map((p) => p.userId)).toEqual(['c', 'zz', 'a']);
    expect(many.map((p) => p.realmLayer.values['who'])).toEqual([
      'c',
      undefined,
      'a',
    ]);
  });

  it('pages through the users of a realm by user id', async () => {
    const store = await open();
    const ids = ['u05', 'u01', 'u04', 'u02', 'u03'];
    for (const userId of ids) {
      await store.write(
        'sports',
        userId,
        fixed({ realmPatch: patch({ x: 1 }) }),
        META,
        ['sports'],
      );
    }
    // A global-only write gives the user no realm layer here.
    await store.write(
      'parks',
      'g1',
      fixed({ globalPatch: patch({ x: 1 }) }),
      META,
      ['sports', 'parks'],
    );

    const first = await store.listUsers('sports', { limit: 2 });
    expect(first).toEqual({ userIds: ['u01', 'u02'], nextCursor: 'u02' });
    const second = await store.listUsers('sports', {
      after: first.nextCursor,
      limit: 2,
    });
    expect(second).toEqual({ userIds: ['u03', 'u04'], nextCursor: 'u04' });
    const last = await store.listUsers('sports', {
      after: second.nextCursor,
      limit: 2,
    });
    expect(last).toEqual({ userIds: ['u05'], nextCursor: null });
    expect((await store.listUsers('parks', { limit: 10 })).userIds).toEqual([]);
  });
}

function describeChangeLog(open: Open) {
  async function writeCounts(store: PreferenceStore, count: number) {
    const events = [];
    for (let i = 0; i < count; i++) {
      const outcome = await store.write('sports', 'u1', increment('n'), META, [
        'sports',
      ]);
      events.push(...outcome.events);
    }
    return events;
  }

  it('reads exactly the events after a cursor, in order', async () => {
    const store = await open();
    const events = await writeCounts(store, 6);
    expect(await store.readChanges('sports', null, 100)).toEqual({
      events,
      truncated: false,
    });

    const after = events[2]?.cursor ?? '';
    const slice = await store.readChanges('sports', after, 2);
    expect(slice).toEqual({ events: events.slice(3, 5), truncated: false });
    const rest = await store.readChanges('sports', events[4]?.cursor ?? '', 10);
    expect(rest.events).toEqual(events.slice(5));
    const none = await store.readChanges('sports', events[5]?.cursor ?? '', 10);
    expect(none).toEqual({ events: [], truncated: false });
  });

  it('knows its newest cursor, and cursors sort in write order', async () => {
    const store = await open();
    expect(await store.latestCursor('sports')).toBeNull();
    const events = await writeCounts(store, 12);
    expect(await store.latestCursor('sports')).toBe(events.at(-1)?.cursor);
    const cursors = events.map((e) => e.cursor);
    expect([...cursors].sort(compareCursors)).toEqual(cursors);
    expect(compareCursors(cursors[0] ?? '', cursors[0] ?? '')).toBe(0);
  });

  it('trims old events and flags a reader that missed some', async () => {
    const store = await open({ changeLogMaxLength: 10 });
    // Redis trims whole stream nodes (`MAXLEN ~`), so write well past them.
    const events = await writeCounts(store, 300);

    const all = await store.readChanges('sports', null, 1_000);
    expect(all.truncated).toBe(true);
    expect(all.events.length).toBeGreaterThanOrEqual(10);
    expect(all.events.length).toBeLessThan(300);
    expect(all.events.at(-1)).toEqual(events.at(-1));

    const stale = await store.readChanges(
      'sports',
      events[0]?.cursor ?? '',
      1_000,
    );
    expect(stale.truncated).toBe(true);
    expect(stale.events).toEqual(all.events);

    const firstKept = all.events[0]?.cursor ?? '';
    const current = await store.readChanges('sports', firstKept, 1_000);
    expect(current).toEqual({ events: all.events.slice(1), truncated: false });
  });

  it('refuses a cursor of another realm, or a malformed one', async () => {
    const store = await open();
    const [event] = await writeCounts(store, 1);
    const cursor = event?.cursor ?? '';
    const bad = [
      cursor.replace(/^sports/, 'parks'),
      'sports',
      'sports/x',
      'nonsense',
    ];
    for (const after of bad) {
      const read = store.readChanges('sports', after, 10);
      await expect(read).rejects.toBeInstanceOf(GraphQLError);
      await expect(read).rejects.toMatchObject({
        extensions: { code: 'BAD_USER_INPUT' },
      });
    }
    await expect(store.readChanges('parks', cursor, 10)).rejects.toBeInstanceOf(
      GraphQLError,
    );
  });
}

function describeRealmPartitions(open: Open) {
  it('keeps the realm layers of one user id apart per realm', async () => {
    const store = await open();
    await store.write(
      'sports',
      'u1',
      fixed({ realmPatch: patch({ x: 'sports' }) }),
      META,
      REALMS,
    );
    await store.write(
      'parks',
      'u1',
      fixed({ realmPatch: patch({ x: 'parks' }) }),
      META,
      REALMS,
    );
    expect((await store.read('sports', 'u1')).realmLayer).toMatchObject({
      version: 1,
      values: { x: 'sports' },
    });
    expect((await store.read('parks', 'u1')).realmLayer).toMatchObject({
      version: 1,
      values: { x: 'parks' },
    });
  });

  it('drops one realm only, never the global layer', async () => {
    const store = await open();
    await store.write(
      'sports',
      'u1',
      fixed({ realmPatch: patch({ x: 1 }), globalPatch: patch({ g: 1 }) }),
      META,
      ['sports', 'parks'],
    );
    await store.write(
      'parks',
      'u1',
      fixed({ realmPatch: patch({ y: 1 }) }),
      META,
      REALMS,
    );

    await store.dropRealm('sports');
    const sports = await store.read('sports', 'u1');
    expect(sports.realmLayer.version).toBe(0);
    expect(sports.globalLayer.values).toEqual({ g: 1 });
    expect((await store.readChanges('sports', null, 10)).events).toEqual([]);
    expect((await store.listUsers('sports', { limit: 10 })).userIds).toEqual(
      [],
    );

    expect((await store.read('parks', 'u1')).realmLayer.values).toEqual({
      y: 1,
    });
    expect((await store.readChanges('parks', null, 10)).events).toHaveLength(2);
    expect((await store.listUsers('parks', { limit: 10 })).userIds).toEqual([
      'u1',
    ]);
  });

  it('answers ping', async () => {
    const store = await open();
    expect(await store.ping()).toBe(true);
  });
}

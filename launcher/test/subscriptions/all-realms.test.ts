import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeAllRealmsCursor } from '@realms/gateway';
import {
  ensureDevKeys,
  issueDevToken,
  loadCatalog,
  type Role,
} from '@realms/platform';
import { startSystem, type RunningSystem } from '../../src/system.js';
import {
  deleteKeys,
  REDIS_URL,
  startTestSystem,
  type Backend,
  type TestSystem,
} from '../support/test-system.js';
import { WsClients } from '../support/ws-client.js';
import {
  changesOf,
  latestCursor,
  setLocale,
  setPartySize,
  setTeams,
  writeTeamsDirectly,
  type Change,
} from './support.js';

const ALL_CHANGES = /* GraphQL */ `
  subscription AllChanges($after: String) {
    allRealmsPreferenceChanged(after: $after) {
      cursor
      realmId
      userId
      version
      preference {
        id
        version
      }
    }
  }
`;

type AllChangeData = { allRealmsPreferenceChanged: Change };

const PLATFORM_ADMIN: Role[] = ['platform-admin'];

/** Changes per realm before the resume, and while it happens. */
const BACKLOG = 15;
const DURING = 20;

/** Changes each realm's log keeps in the short-retention system. */
const RETENTION = 5;
/** Most filler writes before Redis (`MAXLEN ~`) must have trimmed. */
const MAX_FILLER_WRITES = 1_000;

/** Party sizes that differ from one write to the next (at most 12). */
const partySize = (i: number) => 1 + (i % 2);

/** `realm:user@version` of each change, for comparing lists at a glance. */
function labels(changes: readonly Change[]): string[] {
  return changes.map((c) => `${c.realmId}:${c.userId}@${c.version}`);
}

/** The changes of one realm, in the order they arrived. */
function ofRealm(changes: readonly Change[], realm: string): string[] {
  return labels(changes.filter((c) => c.realmId === realm));
}

/**
 * An all-realms cursor at the newest change of every realm, so that a
 * subscription started with it misses nothing written after this call.
 */
async function allRealmsNow(
  store: RunningSystem['state']['store'],
  realms: readonly string[],
): Promise<string> {
  const positions = new Map<string, string | null>();
  for (const realm of realms)
    positions.set(realm, await store.latestCursor(realm));
  return encodeAllRealmsCursor(positions);
}

describe.each<Backend>(['memory', 'redis'])(
  'the all-realms feed over %s state',
  (backend) => {
    let t: TestSystem;
    const clients = new WsClients(() => t.url);
    const now = () =>
      allRealmsNow(t.system.state.store, t.system.catalog.realmIds);

    beforeAll(async () => {
      t = await startTestSystem(backend);
    });
    afterEach(() => clients.disposeAll());
    afterAll(async () => {
      await t?.stop();
    });

    it('gives a platform admin the changes of two realms in one subscription', async () => {
      const ws = clients.connect({
        realm: 'sports',
        token: await t.token('sports', 'root', PLATFORM_ADMIN),
      });
      const feed = ws.subscribe<AllChangeData>({
        query: ALL_CHANGES,
        variables: { after: await now() },
      });

      await setTeams(t, await t.token('sports', 'ana'), ['a-team']);
      await setPartySize(t, await t.token('parks', 'ben'), 4);
      await setTeams(t, await t.token('sports', 'ana'), ['b-team']);

      const received = changesOf(await feed.take(3));
      expect(labels(received)).toEqual([
        'sports:ana@1',
        'parks:ben@1',
        'sports:ana@2',
      ]);
      // `preference` is resolved in the change's own realm.
      expect(received.map((c) => c.preference)).toEqual([
        { id: 'sports:ana', version: 1 },
        { id: 'parks:ben', version: 1 },
        { id: 'sports:ana', version: 2 },
      ]);
      expect(new Set(received.map((c) => c.cursor)).size).toBe(3);
      expect(received.every((c) => c.cursor.startsWith('all.'))).toBe(true);
    });

    it('resumes after changes in several realms with exactly the missed ones, in per-realm order', async () => {
      const admin = await t.token('sports', 'root', PLATFORM_ADMIN);
      const sportsCal = await t.token('sports', 'cal');
      const parksCal = await t.token('parks', 'cal');
      const sportsDee = await t.token('sports', 'dee');

      const first = clients.connect({ realm: 'sports', token: admin });
      const live = first.subscribe<AllChangeData>({
        query: ALL_CHANGES,
        variables: { after: await now() },
      });
      await setTeams(t, sportsCal, ['seen']);
      const [seen] = changesOf(await live.take(1));
      expect(seen && labels([seen])).toEqual(['sports:cal@1']);
      await first.dispose();

      // Missed: sports and parks changes, and one global key, which
      // changes dee's preference in every realm.
      await setPartySize(t, parksCal, 2);
      await setTeams(t, sportsCal, ['missed-1']);
      await setLocale(t, 'sports', sportsDee, 'fr-FR');
      await setPartySize(t, parksCal, 3);
      await setTeams(t, sportsCal, ['missed-2']);
      const missed = [
        'parks:cal@1',
        'sports:cal@2',
        'sports:dee@1',
        'parks:dee@1',
        'entertainment:dee@1',
        'parks:cal@2',
        'sports:cal@3',
      ];

      const second = clients.connect({ realm: 'sports', token: admin });
      const resumed = second.subscribe<AllChangeData>({
        query: ALL_CHANGES,
        variables: { after: seen?.cursor },
      });
      const replayed = changesOf(await resumed.take(missed.length));
      expect([...labels(replayed)].sort()).toEqual([...missed].sort());
      for (const realm of ['sports', 'parks', 'entertainment']) {
        expect(ofRealm(replayed, realm)).toEqual(
          missed.filter((m) => m.startsWith(`${realm}:`)),
        );
      }

      // Then live, and nothing twice: a duplicate would come before it.
      await setPartySize(t, parksCal, 4);
      const all = changesOf(await resumed.take(missed.length + 1));
      expect(labels(all).at(-1)).toBe('parks:cal@3');
      expect(new Set(all.map((c) => c.cursor)).size).toBe(all.length);
      expect(resumed.results).toHaveLength(missed.length + 1);

      // A cursor from the middle of the replay resumes from there.
      const middle = replayed[2] as Change;
      const third = clients.connect({ realm: 'sports', token: admin });
      const again = third.subscribe<AllChangeData>({
        query: ALL_CHANGES,
        variables: { after: middle.cursor },
      });
      const rest = changesOf(await again.take(all.length - 3));
      expect([...labels(rest)].sort()).toEqual(
        [...labels(all.slice(3))].sort(),
      );
    });

    it('resumes while several realms keep changing: every change once, in per-realm order', async () => {
      const admin = await t.token('sports', 'root', PLATFORM_ADMIN);
      const sports = await t.token('sports', 'hal');
      const parks = await t.token('parks', 'hal');
      const start = await now();
      for (let i = 1; i <= BACKLOG; i++) {
        await setTeams(t, sports, [`b-${i}`]);
        await setPartySize(t, parks, partySize(i));
      }

      // Both realms go on changing while the server subscribes, replays
      // and goes live, so changes can be both replayed and announced.
      const writers = [
        (async () => {
          for (let i = 1; i <= DURING; i++)
            await setTeams(t, sports, [`d-${i}`]);
        })(),
        (async () => {
          for (let i = 1; i <= DURING; i++)
            await setPartySize(t, parks, partySize(BACKLOG + i));
        })(),
      ];
      const ws = clients.connect({ realm: 'sports', token: admin });
      const resumed = ws.subscribe<AllChangeData>({
        query: ALL_CHANGES,
        variables: { after: start },
      });
      await Promise.all(writers);

      const total = 2 * (BACKLOG + DURING);
      const all = changesOf(await resumed.take(total, 10_000));
      const versions = Array.from(
        { length: BACKLOG + DURING },
        (_, i) => i + 1,
      );
      expect(ofRealm(all, 'sports')).toEqual(
        versions.map((v) => `sports:hal@${v}`),
      );
      expect(ofRealm(all, 'parks')).toEqual(
        versions.map((v) => `parks:hal@${v}`),
      );
      // A sentinel: a duplicate delivered late would arrive before it.
      await setTeams(t, sports, ['sentinel']);
      const last = changesOf(await resumed.take(total + 1)).at(-1);
      expect(last && labels([last])).toEqual([
        `sports:hal@${BACKLOG + DURING + 1}`,
      ]);
      expect(resumed.results).toHaveLength(total + 1);
    });

    it('refuses the all-realms feed to a realm admin and to a user with FORBIDDEN', async () => {
      for (const roles of [['user', 'realm-admin'], ['user']] as Role[][]) {
        const ws = clients.connect({
          realm: 'sports',
          token: await t.token('sports', 'eve', roles),
        });
        const feed = ws.subscribe<AllChangeData>({ query: ALL_CHANGES });
        await feed.end();
        expect(feed.errorCodes()).toEqual(['FORBIDDEN']);
        expect(feed.results.filter((r) => r.data)).toEqual([]);
      }
    });

    it("refuses one realm's cursor and a malformed one with BAD_USER_INPUT", async () => {
      const ws = clients.connect({
        realm: 'sports',
        token: await t.token('sports', 'root', PLATFORM_ADMIN),
      });
      for (const after of [
        await latestCursor(t, 'sports'),
        'all.not base64',
        `all.${Buffer.from('sports=x').toString('base64url')}`,
      ]) {
        const feed = ws.subscribe<AllChangeData>({
          query: ALL_CHANGES,
          variables: { after },
        });
        await feed.end();
        expect(feed.errorCodes()).toEqual(['BAD_USER_INPUT']);
      }
    });
  },
);

describe.each<Backend>(['memory', 'redis'])(
  'the all-realms feed over %s state with a short change log',
  (backend) => {
    let t: TestSystem;
    const clients = new WsClients(() => t.url);

    beforeAll(async () => {
      t = await startTestSystem(backend, { changeLogMaxLength: RETENTION });
    });
    afterEach(() => clients.disposeAll());
    afterAll(async () => {
      await t?.stop();
    });

    it('refuses a cursor one realm no longer keeps with CURSOR_EXPIRED', async () => {
      const admin = await t.token('sports', 'root', PLATFORM_ADMIN);
      const ws = clients.connect({ realm: 'sports', token: admin });
      const live = ws.subscribe<AllChangeData>({
        query: ALL_CHANGES,
        variables: {
          after: await allRealmsNow(
            t.system.state.store,
            t.system.catalog.realmIds,
          ),
        },
      });
      await setPartySize(t, await t.token('parks', 'fay'), 2);
      const [seen] = changesOf(await live.take(1));
      const cursor = seen?.cursor as string;
      await ws.dispose();

      // Only sports moves on, past its retention; parks still keeps
      // everything after the cursor's parks position.
      const store = t.system.state.store;
      const sportsAt = await store.latestCursor('sports');
      let writes = 0;
      while (!(await store.readChanges('sports', sportsAt, 1)).truncated) {
        expect(writes).toBeLessThan(MAX_FILLER_WRITES);
        await writeTeamsDirectly(t, `filler-${writes % 3}`, [`f-${writes}`]);
        writes += 1;
      }

      const resumed = clients.connect({ realm: 'sports', token: admin });
      const refused = resumed.subscribe<AllChangeData>({
        query: ALL_CHANGES,
        variables: { after: cursor },
      });
      await refused.end();
      expect(refused.errorCodes()).toEqual(['CURSOR_EXPIRED']);
      expect(refused.results.filter((r) => r.data)).toEqual([]);
    });
  },
);

describe('the all-realms feed across a restart of the system (Redis)', () => {
  const keyPrefix = `realms-test-${randomUUID()}`;
  let keysDir = '';
  let running: RunningSystem | null = null;
  const clients = new WsClients(() => running?.gatewayUrl ?? '');

  async function start(): Promise<RunningSystem> {
    running = await startSystem({
      ports: {
        gateway: 0,
        subgraphs: { core: 0, sports: 0, entertainment: 0, parks: 0 },
      },
      redisUrl: REDIS_URL,
      keyPrefix,
      keysDir,
      logger: pino({ level: process.env['LOG_LEVEL'] ?? 'silent' }),
    });
    return running;
  }

  async function token(realm: string, userId: string, roles: Role[]) {
    const config = (await loadCatalog()).realm(realm);
    if (!config) throw new Error(`no realm ${realm}`);
    return issueDevToken({ realm: config, userId, roles }, keysDir);
  }

  /** The test systems' helpers, pointed at the running system. */
  const asTest = (system: RunningSystem) =>
    ({ system, url: system.gatewayUrl }) as unknown as TestSystem;

  beforeAll(async () => {
    keysDir = await mkdtemp(join(tmpdir(), 'realms-keys-'));
    await ensureDevKeys((await loadCatalog()).realms.values(), keysDir);
  });
  afterEach(() => clients.disposeAll());
  afterAll(async () => {
    await running?.close();
    await deleteKeys(keyPrefix);
    await rm(keysDir, { recursive: true, force: true });
  });

  it('resumes on the restarted gateway with exactly the changes it missed', async () => {
    const admin = await token('sports', 'root', PLATFORM_ADMIN);
    const sportsGus = await token('sports', 'gus', ['user']);
    const parksGus = await token('parks', 'gus', ['user']);

    let system = await start();
    const first = clients.connect({ realm: 'sports', token: admin });
    const live = first.subscribe<AllChangeData>({
      query: ALL_CHANGES,
      variables: {
        after: await allRealmsNow(system.state.store, system.catalog.realmIds),
      },
    });
    await setTeams(asTest(system), sportsGus, ['before']);
    await setPartySize(asTest(system), parksGus, 2);
    const seen = changesOf(await live.take(2));
    const cursor = seen.at(-1)?.cursor as string;

    // Missed while the client is away: some before the restart, some
    // after it.
    await first.dispose();
    await setTeams(asTest(system), sportsGus, ['missed-1']);
    await system.close();
    running = null;
    system = await start();
    await setPartySize(asTest(system), parksGus, 3);
    await setTeams(asTest(system), sportsGus, ['missed-2']);

    const second = clients.connect({ realm: 'sports', token: admin });
    const resumed = second.subscribe<AllChangeData>({
      query: ALL_CHANGES,
      variables: { after: cursor },
    });
    const replayed = changesOf(await resumed.take(3));
    expect(ofRealm(replayed, 'sports')).toEqual([
      'sports:gus@2',
      'sports:gus@3',
    ]);
    expect(ofRealm(replayed, 'parks')).toEqual(['parks:gus@2']);

    await setPartySize(asTest(system), parksGus, 4);
    const all = changesOf(await resumed.take(4));
    expect(labels(all).at(-1)).toBe('parks:gus@3');
    expect(resumed.results).toHaveLength(4);
  });
});

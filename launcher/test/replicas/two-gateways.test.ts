import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compareCursors,
  ensureDevKeys,
  issueDevToken,
  loadCatalog,
} from '@realms/platform';
import {
  freePort,
  runNpm,
  waitForOk,
  type ServiceProcess,
} from '../support/processes.js';
import { graphql, REDIS_URL } from '../support/test-system.js';
import { subscribe, type Subscription } from './subscriber.js';

/** What each subscriber selects, and so what each result holds. */
interface Change {
  preferenceChanged: {
    cursor: string;
    version: number;
    changedKeys: string[];
    preference: {
      version: number;
      sports: { favoriteTeams: string[] } | null;
      spoiler: { value: unknown }[];
    };
  };
}

const SUBSCRIPTION = `subscription ($after: String) {
  preferenceChanged(after: $after) {
    cursor
    version
    changedKeys
    preference {
      version
      sports { favoriteTeams }
      spoiler: values(keys: ["sports.spoilerProtection"]) { value }
    }
  }
}`;

const REALM = 'sports';
/** Every wait is bounded; a result not here by then is a failure. */
const EVENT_WAIT_MS = 10_000;
const READY_WAIT_MS = 90_000;

/** A gateway process and the port it serves on (kept across restarts). */
interface Gateway {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly env: Record<string, string>;
  process: ServiceProcess;
}

/**
 * Horizontal scaling: two gateway replicas, each in front of its own core
 * subgraph replica, sharing the other subgraphs and one Redis. A change
 * made through either replica reaches the subscribers of both, and a
 * client of a restarted replica resumes from its last cursor.
 */
describe('two gateways, two core subgraphs, one Redis', () => {
  const processes: ServiceProcess[] = [];
  const subscriptions: Subscription<Change>[] = [];
  const keyPrefix = `realms-test-${randomUUID()}`;
  const userId = `replica-${randomUUID()}`;
  let keysDir: string;
  let token: string;
  let gatewayA: Gateway;
  let gatewayB: Gateway;

  /** Starts a process and remembers it, so afterAll stops it whatever happens. */
  const start = (args: string[], env: Record<string, string>) => {
    const service = runNpm(args, env);
    processes.push(service);
    return service;
  };

  const ready = async (gateway: Gateway) => {
    try {
      await waitForOk(
        `http://127.0.0.1:${gateway.port}/health/ready`,
        READY_WAIT_MS,
      );
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\n${processes.map((p) => p.output()).join('\n')}`,
      );
    }
  };

  const startGateway = (gateway: Omit<Gateway, 'process'>): Gateway => ({
    ...gateway,
    process: start(['start:gateway'], {
      ...gateway.env,
      PORT: String(gateway.port),
    }),
  });

  const listen = (gateway: Gateway, after?: string) => {
    const subscription = subscribe<Change>({
      url: gateway.url,
      realm: REALM,
      token,
      query: SUBSCRIPTION,
      variables: after ? { after } : {},
    });
    subscriptions.push(subscription);
    return subscription;
  };

  /** Stores favourite teams through the sports subgraph; returns the version. */
  const setTeams = async (gateway: Gateway, teams: string[]) => {
    const response = await graphql<{
      updateSportsPreferences: { version: number };
    }>(
      gateway.url,
      'mutation ($teams: [String!]) { updateSportsPreferences(input: { favoriteTeams: $teams }) { version } }',
      { realm: REALM, token, variables: { teams } },
    );
    expect(response.errors).toBeUndefined();
    return (response.data as { updateSportsPreferences: { version: number } })
      .updateSportsPreferences.version;
  };

  /** Stores a realm custom value through the gateway's own core replica. */
  const setSpoiler = async (gateway: Gateway, value: boolean) => {
    const response = await graphql<{ setPreferences: { version: number } }>(
      gateway.url,
      'mutation ($value: JSON) { setPreferences(values: [{ key: "sports.spoilerProtection", value: $value }]) { version } }',
      { realm: REALM, token, variables: { value } },
    );
    expect(response.errors).toBeUndefined();
    return (response.data as { setPreferences: { version: number } })
      .setPreferences.version;
  };

  /**
   * A subscription is live once the server has registered it, which the
   * protocol does not acknowledge. So: change something until every
   * subscriber has received that change. Returns, per subscriber, how
   * many results came before the test's own changes.
   */
  const settle = async (subscribers: Subscription<Change>[]) => {
    const deadline = Date.now() + EVENT_WAIT_MS * 2;
    for (let attempt = 0; Date.now() < deadline; attempt += 1) {
      const version = await setTeams(gatewayA, [`warm-up-${attempt}`]);
      const seen = Date.now() + 1_000;
      while (Date.now() < seen) {
        const offsets = subscribers.map(
          (s) =>
            s.results.findIndex(
              (r) => r.preferenceChanged.version === version,
            ) + 1,
        );
        if (offsets.every((offset) => offset > 0)) return offsets;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    throw new Error(
      `subscribers not live after ${EVENT_WAIT_MS * 2} ms: ${JSON.stringify(
        subscribers.map((s) => ({ results: s.results, errors: s.errors })),
      )}`,
    );
  };

  const cursors = (results: readonly Change[]) =>
    results.map((r) => r.preferenceChanged.cursor);

  const expectCursorOrder = (results: readonly Change[]) => {
    const list = cursors(results);
    for (let i = 1; i < list.length; i += 1) {
      expect(
        compareCursors(list[i - 1] as string, list[i] as string),
      ).toBeLessThan(0);
    }
  };

  beforeAll(async () => {
    keysDir = await mkdtemp(join(tmpdir(), 'realms-keys-'));
    const catalog = await loadCatalog();
    await ensureDevKeys(catalog.realms.values(), keysDir);
    const realm = catalog.realm(REALM);
    if (!realm) throw new Error(`no realm ${REALM}`);
    token = await issueDevToken({ realm, userId, roles: ['user'] }, keysDir);

    const env = {
      REDIS_URL,
      REDIS_KEY_PREFIX: keyPrefix,
      REALMS_KEYS_DIR: keysDir,
      REALMS_INTERNAL_SECRET: randomBytes(32).toString('base64url'),
      LOG_LEVEL: 'warn',
    };
    const subgraph = async (name: string) => {
      const port = await freePort();
      start(['start:subgraph', '--', name], {
        ...env,
        [`${name.toUpperCase()}_PORT`]: String(port),
      });
      return `http://127.0.0.1:${port}/graphql`;
    };
    const core1 = await subgraph('core');
    const core2 = await subgraph('core');
    const shared = {
      SPORTS_URL: await subgraph('sports'),
      ENTERTAINMENT_URL: await subgraph('entertainment'),
      PARKS_URL: await subgraph('parks'),
    };

    const portA = await freePort();
    gatewayA = startGateway({
      name: 'A',
      port: portA,
      url: `http://127.0.0.1:${portA}/graphql`,
      env: { ...env, ...shared, CORE_URL: core1 },
    });
    const portB = await freePort();
    gatewayB = startGateway({
      name: 'B',
      port: portB,
      url: `http://127.0.0.1:${portB}/graphql`,
      env: { ...env, ...shared, CORE_URL: core2 },
    });
    await Promise.all([ready(gatewayA), ready(gatewayB)]);
  }, READY_WAIT_MS + 30_000);

  afterAll(async () => {
    await Promise.allSettled(subscriptions.map((s) => s.close()));
    await Promise.allSettled(processes.map((p) => p.stop()));
    const redis = new Redis(REDIS_URL);
    try {
      const keys = await redis.keys(`${keyPrefix}:*`);
      if (keys.length > 0) await redis.unlink(...keys);
    } finally {
      redis.disconnect();
    }
    if (keysDir) await rm(keysDir, { recursive: true, force: true });
  }, 30_000);

  /** Subscribers on gateway A, then on B; set by the first test. */
  let onA: Subscription<Change>[] = [];
  let onB: Subscription<Change>[] = [];
  /** Results before the test's own changes, per subscriber of onB. */
  let offsetsB: number[] = [];

  it('delivers changes made through either gateway to every subscriber of both, in cursor order', async () => {
    onA = [listen(gatewayA), listen(gatewayA)];
    onB = [listen(gatewayB), listen(gatewayB)];
    const all = [...onA, ...onB];
    const offsets = await settle(all);
    offsetsB = offsets.slice(onA.length);

    // The teams the last warm-up stored, until a step changes them.
    const warmedUp = onA[0]?.results[(offsets[0] as number) - 1];
    let teams = warmedUp?.preferenceChanged.preference.sports
      ?.favoriteTeams as string[];
    let spoiler: boolean | null = null;

    // Through each core replica (spoiler), then through the shared sports
    // subgraph from either gateway (teams).
    const plan = [
      { through: gatewayA, spoiler: true },
      { through: gatewayB, spoiler: false },
      { through: gatewayA, teams: ['lakers', 'celtics'] },
      { through: gatewayB, teams: ['celtics'] },
    ];
    const expected: Change[] = [];
    for (const [index, step] of plan.entries()) {
      let version: number;
      if (step.spoiler !== undefined) {
        spoiler = step.spoiler;
        version = await setSpoiler(step.through, step.spoiler);
      } else {
        teams = step.teams as string[];
        version = await setTeams(step.through, teams);
      }
      expected.push({
        preferenceChanged: {
          cursor: expect.any(String) as unknown as string,
          version,
          changedKeys: [
            step.spoiler !== undefined
              ? 'sports.spoilerProtection'
              : 'sports.favoriteTeams',
          ],
          preference: {
            version,
            sports: { favoriteTeams: teams },
            spoiler: [{ value: spoiler }],
          },
        },
      });
      // Wait for this change everywhere before the next, so the
      // `preference` each result resolves is the state right after it.
      await Promise.all(
        all.map((s, i) =>
          s.waitFor((offsets[i] as number) + index + 1, EVENT_WAIT_MS),
        ),
      );
    }

    const received = all.map((s, i) => s.results.slice(offsets[i]));
    for (const results of received) {
      expect(results).toEqual(expected);
      expectCursorOrder(results);
    }
    // One change log: the same cursors on both gateways.
    for (const results of received) {
      expect(cursors(results)).toEqual(cursors(received[0] as Change[]));
    }
    for (const s of all) expect(s.errors).toEqual([]);
  }, 60_000);

  it('resumes on a restarted gateway with exactly the changes it missed, then live', async () => {
    const [first] = onA;
    const lastCursor = first?.results.at(-1)?.preferenceChanged.cursor;
    expect(lastCursor).toBeDefined();

    // Clients of A go away with it (no retries), then A stops.
    await Promise.all(onA.map((s) => s.close()));
    await gatewayA.process.stop();
    expect(gatewayA.process.child.exitCode ?? 0).toBe(0);

    // Three changes while A is down, through B: two via the shared sports
    // subgraph, one via core #2.
    const missed: { version: number; key: string }[] = [];
    const writes = [
      () => setTeams(gatewayB, ['knicks']),
      () => setSpoiler(gatewayB, true),
      () => setTeams(gatewayB, ['knicks', 'nets']),
    ];
    const keys = [
      'sports.favoriteTeams',
      'sports.spoilerProtection',
      'sports.favoriteTeams',
    ];
    const before = onB.map((s) => s.results.length);
    for (const [index, write] of writes.entries()) {
      missed.push({ version: await write(), key: keys[index] as string });
      await Promise.all(
        onB.map((s, i) =>
          s.waitFor((before[i] as number) + index + 1, EVENT_WAIT_MS),
        ),
      );
    }

    // A again: a new process on the same port, same Redis.
    gatewayA = startGateway(gatewayA);
    await ready(gatewayA);
    const resumed = [
      listen(gatewayA, lastCursor),
      listen(gatewayA, lastCursor),
    ];
    const replayed = await Promise.all(
      resumed.map((s) => s.waitFor(3, EVENT_WAIT_MS)),
    );
    // Exactly the missed changes, in order, with the cursors B delivered.
    const missedOnB = (onB[0] as Subscription<Change>).results.slice(-3);
    for (const results of replayed) {
      expect(
        results.map((r) => ({
          version: r.preferenceChanged.version,
          key: r.preferenceChanged.changedKeys,
        })),
      ).toEqual(missed.map((m) => ({ version: m.version, key: [m.key] })));
      expect(cursors(results)).toEqual(cursors(missedOnB));
      expect(
        compareCursors(lastCursor as string, cursors(results)[0] as string),
      ).toBeLessThan(0);
      expectCursorOrder(results);
      // `preference` is resolved when the result is delivered (schema
      // docs), so a replayed change shows the preference as it is now.
      for (const r of results) {
        expect(r.preferenceChanged.preference).toEqual({
          version: missed.at(-1)?.version,
          sports: { favoriteTeams: ['knicks', 'nets'] },
          spoiler: [{ value: true }],
        });
      }
    }

    // Then live: one more change, through the restarted A (core #1).
    const live = await setSpoiler(gatewayA, false);
    const afterLive = await Promise.all(
      resumed.map((s) => s.waitFor(4, EVENT_WAIT_MS)),
    );
    for (const results of afterLive) {
      expect(results[3]).toEqual({
        preferenceChanged: {
          cursor: expect.any(String),
          version: live,
          changedKeys: ['sports.spoilerProtection'],
          preference: {
            version: live,
            sports: { favoriteTeams: ['knicks', 'nets'] },
            spoiler: [{ value: false }],
          },
        },
      });
      expectCursorOrder(results);
    }
    await Promise.all(
      onB.map((s, i) => s.waitFor((before[i] as number) + 4, EVENT_WAIT_MS)),
    );
    // No duplicate and nothing more arrives after a pause.
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const s of resumed) {
      expect(s.results).toHaveLength(4);
      expect(s.errors).toEqual([]);
    }
    for (const [i, s] of onB.entries()) {
      expect(s.results).toHaveLength((before[i] as number) + 4);
      expect(cursors(s.results.slice(-1))).toEqual(
        cursors((resumed[0] as Subscription<Change>).results.slice(-1)),
      );
    }
    expect(offsetsB.length).toBe(onB.length);
  }, 120_000);
});

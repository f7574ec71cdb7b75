import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SUBGRAPHS, type SubgraphName } from '@realms/gateway';
import { ensureDevKeys, issueDevToken, loadCatalog } from '@realms/platform';
import {
  freePort,
  runNpm,
  waitForOk,
  type ServiceProcess,
} from '../support/processes.js';
import {
  graphql,
  REDIS_URL,
  type GraphQLResponse,
} from '../support/test-system.js';
import { startDelayingProxy, type DelayingProxy } from './delaying-proxy.js';

/*
 * Error boundaries with real processes, as docker-compose runs them: core,
 * the three division subgraphs and the gateway each in its own process,
 * sharing one Redis. A division that is killed, or answers slower than the
 * gateway's per-subgraph timeout, costs only its own fields in its own
 * realm; the other realms do not notice, and it comes back by itself.
 *
 * No assertion is about speed: every loop is bounded by a count, and the
 * waits are bounded only so that a broken system fails instead of hanging.
 */

/** Low, so a stalled division costs little test time; far above a local answer. */
const SUBGRAPH_TIMEOUT_MS = 500;
/** Longer than the timeout: the proxy's "slow" means effectively stalled. */
const STALL_MS = 10_000;
const READY_WAIT_MS = 90_000;
/** Rounds of queries in each phase of the kill test. */
const ROUNDS = 4;
/** Attempts (200 ms apart) for a restarted division to serve again. */
const RECOVERY_ATTEMPTS = 100;

interface Realm {
  readonly realm: string;
  readonly division: SubgraphName;
  /** A read of core fields plus the division's own, named per round. */
  query(round: string): string;
  /** The division's fields as seeded. */
  readonly seeded: unknown;
}

const CORE_FIELDS = 'id version locale: values(keys: ["locale"]) { value }';

// Each round names its operation, so the gateway's read cache (keyed by
// the operation text) cannot answer in place of the subgraphs.
const REALMS: readonly Realm[] = [
  {
    realm: 'sports',
    division: 'sports',
    query: (round) =>
      `query Sports${round} { myPreferences { ${CORE_FIELDS} sports { favoriteTeams } } }`,
    seeded: { favoriteTeams: ['lakers'] },
  },
  {
    realm: 'entertainment',
    division: 'entertainment',
    query: (round) =>
      `query Entertainment${round} { myPreferences { ${CORE_FIELDS} entertainment { genres } } }`,
    seeded: { genres: ['COMEDY'] },
  },
  {
    realm: 'parks',
    division: 'parks',
    query: (round) =>
      `query Parks${round} { myPreferences { ${CORE_FIELDS} parks { trip { partySize } } } }`,
    seeded: { trip: { partySize: 4 } },
  },
];

const SEED: Record<string, string> = {
  sports:
    'mutation { updateSportsPreferences(input: { favoriteTeams: ["lakers"] }) { version } }',
  entertainment:
    'mutation { updateEntertainmentPreferences(input: { genres: [COMEDY] }) { version } }',
  parks:
    'mutation { updateParksPreferences(input: { trip: { partySize: 4 } }) { version } }',
};

type Preferences = { myPreferences: Record<string, unknown> };

describe('a division that is down or slow', () => {
  const processes: ServiceProcess[] = [];
  const keyPrefix = `realms-test-${randomUUID()}`;
  const userId = `failure-${randomUUID()}`;
  const env: Record<string, string> = {
    REDIS_URL,
    REDIS_KEY_PREFIX: keyPrefix,
    REALMS_INTERNAL_SECRET: randomBytes(32).toString('base64url'),
    LOG_LEVEL: 'warn',
  };
  const tokens: Record<string, string> = {};
  /** What each realm's core fields read after seeding. */
  const coreFields: Record<string, Record<string, unknown>> = {};
  let keysDir: string;
  let gateway: ServiceProcess;
  let gatewayUrl: string;
  let sportsPort: number;
  let sports: ServiceProcess;
  let proxy: DelayingProxy;
  let redis: Redis;

  const start = (args: string[], extra: Record<string, string>) => {
    const service = runNpm(args, { ...env, ...extra });
    processes.push(service);
    return service;
  };

  const startSubgraph = (name: SubgraphName, port: number) =>
    start(['start:subgraph', '--', name], {
      [`${name.toUpperCase()}_PORT`]: String(port),
    });

  /** Waits for a URL, failing with every process's output if it never answers. */
  const ready = async (url: string) => {
    try {
      await waitForOk(url, READY_WAIT_MS);
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\n${processes.map((p) => p.output()).join('\n')}`,
      );
    }
  };

  const send = (realm: string, query: string) =>
    graphql<Preferences>(gatewayUrl, query, { realm, token: tokens[realm] });

  const realmOf = (name: string) => REALMS.find((r) => r.realm === name);

  /** One read per realm in `realms`, concurrently. */
  const round = (label: string, realms: readonly Realm[] = REALMS) =>
    Promise.all(realms.map((r) => send(r.realm, r.query(label))));

  /** The whole answer, as it is with every subgraph up. */
  const expectFull = (realm: Realm, response: GraphQLResponse<Preferences>) => {
    expect(response.status, realm.realm).toBe(200);
    expect(response.errors, realm.realm).toBeUndefined();
    expect(response.data?.myPreferences).toEqual({
      ...coreFields[realm.realm],
      [realm.division]: realm.seeded,
    });
  };

  /** Core fields as ever, the division's null, and one error naming it. */
  const expectDegraded = (
    realm: Realm,
    response: GraphQLResponse<Preferences>,
  ) => {
    expect(response.status, realm.realm).toBe(200);
    expect(response.data?.myPreferences).toEqual({
      ...coreFields[realm.realm],
      [realm.division]: null,
    });
    expect(response.errors).toHaveLength(1);
    const [error] = response.errors ?? [];
    expect(error?.message).toBe(
      `The ${realm.division} service did not answer.`,
    );
    expect(error?.extensions).toMatchObject({
      code: 'SUBGRAPH_UNAVAILABLE',
      serviceName: realm.division,
    });
    // Which service failed, never where it runs.
    expect(JSON.stringify(response.errors)).not.toMatch(
      /127\.0\.0\.1|:\d{4,5}\//,
    );
  };

  /** Reads the realm until it is whole again, a bounded number of times. */
  const recovered = async (realm: Realm) => {
    let last: GraphQLResponse<Preferences> | undefined;
    for (let attempt = 0; attempt < RECOVERY_ATTEMPTS; attempt++) {
      last = await send(realm.realm, realm.query(`Recover${attempt}`));
      if (!last.errors && last.data?.myPreferences[realm.division]) return last;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(
      `${realm.realm} not whole after ${RECOVERY_ATTEMPTS} attempts: ${JSON.stringify(last)}`,
    );
  };

  const expectGatewayUp = async () => {
    expect(gateway.child.exitCode).toBeNull();
    const live = await fetch(new URL('/health/live', gatewayUrl));
    expect(live.status).toBe(200);
  };

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    keysDir = await mkdtemp(join(tmpdir(), 'realms-keys-'));
    env['REALMS_KEYS_DIR'] = keysDir;
    const catalog = await loadCatalog();
    await ensureDevKeys(catalog.realms.values(), keysDir);
    for (const { realm } of REALMS) {
      const config = catalog.realm(realm);
      if (!config) throw new Error(`no realm ${realm}`);
      tokens[realm] = await issueDevToken(
        { realm: config, userId, roles: ['user'] },
        keysDir,
      );
    }

    const urls: Record<string, string> = {};
    for (const { name } of SUBGRAPHS) {
      const port = await freePort();
      const service = startSubgraph(name, port);
      if (name === 'sports') {
        sportsPort = port;
        sports = service;
      }
      urls[name] = `http://127.0.0.1:${port}/graphql`;
    }
    // Entertainment is reached only through the proxy that can stall it.
    proxy = await startDelayingProxy(
      new URL('/', urls['entertainment'] as string).href,
    );

    const port = await freePort();
    gatewayUrl = `http://127.0.0.1:${port}/graphql`;
    gateway = start(['start:gateway'], {
      PORT: String(port),
      SUBGRAPH_TIMEOUT_MS: String(SUBGRAPH_TIMEOUT_MS),
      CORE_URL: urls['core'] as string,
      SPORTS_URL: urls['sports'] as string,
      ENTERTAINMENT_URL: `${proxy.url}/graphql`,
      PARKS_URL: urls['parks'] as string,
    });
    await ready(new URL('/health/ready', gatewayUrl).href);

    for (const { realm } of REALMS) {
      const seeded = await send(realm, SEED[realm] as string);
      expect(seeded.errors, realm).toBeUndefined();
      const read = await send(realm, `{ myPreferences { ${CORE_FIELDS} } }`);
      expect(read.errors, realm).toBeUndefined();
      coreFields[realm] = read.data?.myPreferences as Record<string, unknown>;
    }
  }, READY_WAIT_MS + 30_000);

  afterAll(async () => {
    await Promise.allSettled(processes.map((p) => p.stop()));
    await proxy?.close();
    if (redis) {
      const keys = await redis.keys(`${keyPrefix}:*`);
      if (keys.length > 0) await redis.unlink(...keys);
      redis.disconnect();
    }
    if (keysDir) await rm(keysDir, { recursive: true, force: true });
  }, 30_000);

  it('answers every realm whole while every division is up', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const answers = await round(`Up${i}`);
      REALMS.forEach((realm, index) =>
        expectFull(realm, answers[index] as GraphQLResponse<Preferences>),
      );
    }
  });

  it('loses only the sports fields when the sports process is killed mid-run', async () => {
    const sportsRealm = realmOf('sports') as Realm;
    const others = REALMS.filter((r) => r !== sportsRealm);

    // The kill lands while a round is in flight: each answer of that round
    // is either whole or degraded, never a failure of the request.
    const [inFlight] = await Promise.all([
      round('Kill'),
      (async () => {
        process.kill(-(sports.child.pid as number), 'SIGKILL');
        await sports.exited;
      })(),
    ]);
    REALMS.forEach((realm, index) => {
      const response = inFlight[index] as GraphQLResponse<Preferences>;
      if (realm === sportsRealm && response.errors) {
        expectDegraded(realm, response);
      } else {
        expectFull(realm, response);
      }
    });
    expect(sports.child.signalCode).toBe('SIGKILL');

    for (let i = 0; i < ROUNDS; i++) {
      const answers = await round(`Down${i}`);
      expectDegraded(sportsRealm, answers[0] as GraphQLResponse<Preferences>);
      others.forEach((realm, index) =>
        expectFull(realm, answers[index + 1] as GraphQLResponse<Preferences>),
      );
    }
    await expectGatewayUp();

    // Readiness says which dependency is missing (for the orchestrator).
    const readiness = await fetch(new URL('/health/ready', gatewayUrl));
    expect(readiness.status).toBe(503);
    expect(await readiness.json()).toMatchObject({
      dependencies: {
        'subgraph:sports': {
          ok: false,
          detail: expect.stringMatching(/^(unreachable: |timeout)/),
        },
        'subgraph:parks': { ok: true },
      },
    });
  });

  it('refuses a write to the killed division clearly, storing nothing', async () => {
    const keys = {
      realmLayer: `${keyPrefix}:{sports}:pref:${userId}`,
      globalLayer: `${keyPrefix}:{global}:pref:${userId}`,
      changes: `${keyPrefix}:{sports}:changes`,
      audit: `${keyPrefix}:{sports}:audit`,
    };
    const snapshot = async () => ({
      realmLayer: await redis.hgetall(keys.realmLayer),
      globalLayer: await redis.hgetall(keys.globalLayer),
      changes: await redis.xlen(keys.changes),
      audit: await redis.xlen(keys.audit),
    });
    const before = await snapshot();
    expect(before.changes).toBeGreaterThan(0);

    const write = await send(
      'sports',
      'mutation { updateSportsPreferences(input: { favoriteTeams: ["celtics"] }) { version sports { favoriteTeams } } }',
    );
    expect(write.status).toBe(200);
    expect(write.data).toBeNull();
    expect(write.errors).toHaveLength(1);
    expect(write.errors?.[0]?.extensions).toMatchObject({
      code: 'SUBGRAPH_UNAVAILABLE',
      serviceName: 'sports',
    });
    expect(await snapshot()).toEqual(before);

    // Root fields of a mutation run one after another, each its own write:
    // the core write before the sports one stands. The sports field is
    // non-null, so its error nulls all of `data`, the core result with it;
    // the client learns of the core write only by reading again.
    const both = await send(
      'sports',
      'mutation { setPreferences(values: [{ key: "locale", value: "fr-FR" }]) { version } updateSportsPreferences(input: { favoriteTeams: ["celtics"] }) { version } }',
    );
    expect(both.status).toBe(200);
    expect(both.data).toBeNull();
    expect(both.errors?.map((e) => e.extensions?.['code'])).toEqual([
      'SUBGRAPH_UNAVAILABLE',
    ]);
    const after = await snapshot();
    expect(after.realmLayer).toEqual(before.realmLayer);
    expect(after.changes).toBeGreaterThan(before.changes);
    expect(after.audit).toBe(before.audit + 1);

    // `locale` is user-global: every realm reads the new value.
    for (const realm of REALMS) {
      const read = await send(
        realm.realm,
        `{ myPreferences { ${CORE_FIELDS} } }`,
      );
      expect(read.data?.myPreferences['locale']).toEqual([{ value: 'fr-FR' }]);
      coreFields[realm.realm] = read.data?.myPreferences as Record<
        string,
        unknown
      >;
    }
  });

  it('serves sports whole again once a new process listens on the same port', async () => {
    sports = startSubgraph('sports', sportsPort);
    await ready(`http://127.0.0.1:${sportsPort}/health/ready`);
    const sportsRealm = realmOf('sports') as Realm;
    expectFull(sportsRealm, await recovered(sportsRealm));

    for (let i = 0; i < ROUNDS; i++) {
      const answers = await round(`Back${i}`);
      REALMS.forEach((realm, index) =>
        expectFull(realm, answers[index] as GraphQLResponse<Preferences>),
      );
    }
    const write = await send(
      'sports',
      'mutation { updateSportsPreferences(input: { favoriteTeams: ["lakers"] }) { version } }',
    );
    expect(write.errors).toBeUndefined();
    coreFields['sports'] = {
      ...coreFields['sports'],
      version: (
        write.data as unknown as {
          updateSportsPreferences: { version: number };
        }
      ).updateSportsPreferences.version,
    };
    await expectGatewayUp();
  });

  it('gives up on a division slower than SUBGRAPH_TIMEOUT_MS, costing only its fields', async () => {
    const entertainment = realmOf('entertainment') as Realm;
    const others = REALMS.filter((r) => r !== entertainment);
    proxy.delayMs = STALL_MS;

    for (let i = 0; i < ROUNDS; i++) {
      const answers = await Promise.all([
        send(entertainment.realm, entertainment.query(`Slow${i}`)),
        ...others.map((r) => send(r.realm, r.query(`Slow${i}`))),
      ]);
      expectDegraded(entertainment, answers[0] as GraphQLResponse<Preferences>);
      others.forEach((realm, index) =>
        expectFull(realm, answers[index + 1] as GraphQLResponse<Preferences>),
      );
    }
    // The gateway hung up on every stalled answer rather than waiting. The
    // proxy hears of the last hang-up a moment after the gateway answered
    // its client, so give it up to two seconds.
    await vi.waitFor(
      () => expect(proxy.abandoned).toBeGreaterThanOrEqual(ROUNDS),
      { timeout: 2_000, interval: 20 },
    );
    await expectGatewayUp();
    // The log says why, with the division's name; the client was not told.
    expect(gateway.output()).toMatch(
      /"serviceName":"entertainment".*timeout|timeout.*"serviceName":"entertainment"/,
    );

    proxy.delayMs = 0;
    expectFull(entertainment, await recovered(entertainment));
  });

  it('reports a timed-out write as unavailable though the division applied it', async () => {
    // The write reaches the division at once; only its answer is late.
    // The client cannot tell from the error whether it landed: the
    // version it reads back (or CONFLICT on a retry with expectedVersion)
    // does. docs/failure-isolation.md says so.
    const entertainment = realmOf('entertainment') as Realm;
    const version = coreFields['entertainment']?.['version'] as number;
    const answered = proxy.answeredUpstream;
    proxy.delayMs = STALL_MS;
    const write = await send(
      'entertainment',
      `mutation { updateEntertainmentPreferences(input: { genres: [DRAMA] }, expectedVersion: ${version}) { version } }`,
    );
    expect(write.data).toBeNull();
    expect(write.errors?.[0]?.extensions).toMatchObject({
      code: 'SUBGRAPH_UNAVAILABLE',
      serviceName: 'entertainment',
    });
    // The division's answer reached the proxy (it was only held back).
    for (let i = 0; i < 50 && proxy.answeredUpstream === answered; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(proxy.answeredUpstream).toBe(answered + 1);
    proxy.delayMs = 0;

    const retry = await send(
      'entertainment',
      `mutation { updateEntertainmentPreferences(input: { genres: [DRAMA] }, expectedVersion: ${version}) { version } }`,
    );
    expect(retry.errors?.[0]?.extensions).toMatchObject({
      code: 'CONFLICT',
      currentVersion: version + 1,
    });
    const read = await send(entertainment.realm, entertainment.query('Read'));
    expect(read.errors).toBeUndefined();
    expect(read.data?.myPreferences).toMatchObject({
      version: version + 1,
      entertainment: { genres: ['DRAMA'] },
    });
  });
});

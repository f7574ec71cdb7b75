import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPreferenceStore, type Role } from '@realms/platform';
import {
  graphql,
  REDIS_URL,
  startTestSystem,
  type GraphQLResponse,
  type TestSystem,
} from '../support/test-system.js';

/*
 * "All stored keys are partitioned by realm; nothing crosses."
 *
 * Realm A is sports; B and C are parks and entertainment. Every user is
 * seeded (through the gateway, as themselves) with values only they have:
 * a realm-scoped display name carrying a random marker, plus team slugs
 * (sports) or travel dates (parks). A plain user and a realm admin of A
 * then drive every query and mutation that takes a realm or a preference
 * id with ids and realms of B and C (and, for the plain user, of another
 * user of A). Each answer must be a refusal that carries none of the other
 * side's markers anywhere in its JSON, and the other side's stored state,
 * change logs and audit logs, and every Redis key outside A's partition,
 * must be byte-for-byte what they were.
 *
 * Deliberately not "refusals" (documented behaviour, checked as such):
 * - `realmDefinitions(realm)` and `realms` are configuration, public to
 *   every caller; they must still carry no user's values.
 * - The user-global layer (`{global}:pref:<user>`) is keyed by user id
 *   only and follows the user into every realm. Markers are therefore
 *   stored REALM-scoped; the global fan-out is checked on its own below.
 */

const A = 'sports';
const B = 'parks';
const C = 'entertainment';
const REALMS = [A, B, C] as const;
const run = randomBytes(4).toString('hex');

const USERS: Record<(typeof REALMS)[number], readonly string[]> = {
  [A]: ['s-ann', 's-ben'],
  [B]: ['p-dan', 'p-eve'],
  [C]: ['e-fay', 'e-gus'],
};
/** The plain user and the realm admin of A who probe. */
const USER = 's-ann';
const OTHER_USER = 's-ben';
const ADMIN = 's-admin';
const PLATFORM_ADMIN = 's-root';

/** A value nobody else has: valid as a display name and as a team slug. */
function marker(user: string): string {
  return `zq${run}${user.replace('-', '')}`;
}

/** Trip dates far from any timestamp the system writes (2037). */
function travelDates(user: string): { start: string; end: string } {
  const month = String(3 + USERS[B].indexOf(user)).padStart(2, '0');
  return { start: `2037-${month}-11`, end: `2037-${month}-19` };
}

/** Every string that would show one user's values. */
function secretsOf(realm: string, user: string): string[] {
  const secrets = [marker(user)];
  if (realm === B) {
    const dates = travelDates(user);
    secrets.push(dates.start, dates.end);
  }
  return secrets;
}

const secretsOfRealm = (realm: (typeof REALMS)[number]) =>
  USERS[realm].flatMap((u) => secretsOf(realm, u));

/** The markers found anywhere in a response (data, errors, extensions). */
function leaked(response: unknown, secrets: readonly string[]): string[] {
  const text = JSON.stringify(response);
  return secrets.filter((secret) => text.includes(secret));
}

const PREFERENCE_FIELDS = /* GraphQL */ `
  id
  userId
  version
  updatedAt
  values {
    key
    value
    source
  }
  sports {
    favoriteTeams
  }
  entertainment {
    genres
    languages
  }
  parks {
    trip {
      partySize
      travelDates {
        start
        end
      }
    }
  }
`;

/** Root fields that take a realm or a preference id, and are probed here. */
const PROBED_ROOT_FIELDS = [
  'preference',
  'realmDefinitions',
  'realmPreferences',
  'auditLog',
  'realmConfig',
  'updateRealmConfig',
  'realmOverview',
  'searchPreferences',
  'realmUsers',
  'userAccess',
  'realmUsage',
  'grantRealmRole',
  'revokeRealmRole',
  'disableUser',
  'enableUser',
  'erasePreferences',
  'setPreferences',
  'resetPreferences',
  'updateSportsPreferences',
  'updateParksPreferences',
  'updateEntertainmentPreferences',
] as const;

interface Probe {
  /** Names the operation; probes of one name differ only in their target. */
  readonly name: string;
  readonly query: string;
  readonly variables: Record<string, unknown>;
}

/** Every operation that names a preference by id, aimed at `id`. */
function idProbes(id: string): Probe[] {
  const probe = (name: string, query: string, extra = {}): Probe => ({
    name,
    query,
    variables: { id, ...extra },
  });
  return [
    probe(
      'preference',
      `query ($id: ID!) { preference(id: $id) { ${PREFERENCE_FIELDS} } }`,
    ),
    probe(
      'preference (division fields only)',
      `query ($id: ID!) { preference(id: $id) { parks { trip { travelDates { start } } } sports { favoriteTeams } } }`,
    ),
    probe(
      'setPreferences (realm value)',
      `mutation ($id: ID) { setPreferences(id: $id, values: [{ key: "displayName", value: "attack", scope: REALM }]) { ${PREFERENCE_FIELDS} } }`,
    ),
    probe(
      'setPreferences (global value)',
      `mutation ($id: ID) { setPreferences(id: $id, values: [{ key: "locale", value: "fr-FR", scope: GLOBAL }]) { id version } }`,
    ),
    // A CONFLICT would tell the current version and values: access must be
    // refused before the version is compared, whichever version is named.
    ...[0, 1, 2].map((expectedVersion) =>
      probe(
        `setPreferences (expectedVersion ${expectedVersion})`,
        `mutation ($id: ID, $v: Int) { setPreferences(id: $id, expectedVersion: $v, values: [{ key: "theme", value: "light", scope: REALM }]) { id version } }`,
        { v: expectedVersion },
      ),
    ),
    probe(
      'setPreferences (invalid value)',
      `mutation ($id: ID) { setPreferences(id: $id, values: [{ key: "displayName", value: 42 }]) { id } }`,
    ),
    probe(
      'resetPreferences',
      `mutation ($id: ID) { resetPreferences(id: $id, keys: ["displayName"]) { ${PREFERENCE_FIELDS} } }`,
    ),
    probe(
      'resetPreferences (global scope)',
      `mutation ($id: ID) { resetPreferences(id: $id, keys: ["locale"], scope: GLOBAL) { id version } }`,
    ),
    probe(
      'resetPreferences (expectedVersion)',
      `mutation ($id: ID) { resetPreferences(id: $id, keys: ["displayName"], expectedVersion: 1) { id version } }`,
    ),
    probe(
      'updateSportsPreferences',
      `mutation ($id: ID) { updateSportsPreferences(id: $id, input: { favoriteTeams: ["attack"] }) { ${PREFERENCE_FIELDS} } }`,
    ),
    probe(
      'updateParksPreferences',
      `mutation ($id: ID) { updateParksPreferences(id: $id, input: { trip: { partySize: 1 } }) { ${PREFERENCE_FIELDS} } }`,
    ),
    probe(
      'updateParksPreferences (expectedVersion)',
      `mutation ($id: ID) { updateParksPreferences(id: $id, expectedVersion: 1, input: { trip: null }) { id version } }`,
    ),
    probe(
      'updateEntertainmentPreferences',
      `mutation ($id: ID) { updateEntertainmentPreferences(id: $id, input: { autoplay: false }) { ${PREFERENCE_FIELDS} } }`,
    ),
  ];
}

/** Every operation that names a realm, aimed at `realm`. */
function realmProbes(realm: string, someUser: string): Probe[] {
  const probe = (name: string, query: string, extra = {}): Probe => ({
    name,
    query,
    variables: { realm, ...extra },
  });
  return [
    probe(
      'realmPreferences',
      `query ($realm: ID) { realmPreferences(realm: $realm) { items { ${PREFERENCE_FIELDS} } nextCursor } }`,
    ),
    probe(
      'realmPreferences (page after a user)',
      `query ($realm: ID, $after: String) { realmPreferences(realm: $realm, first: 1, after: $after) { items { id values { value } } nextCursor } }`,
      { after: someUser },
    ),
    probe(
      'auditLog',
      `query ($realm: ID) { auditLog(realm: $realm) { entries { id realmId actor target outcome changes { key before after } } nextCursor } }`,
    ),
    probe(
      'auditLog (filtered)',
      `query ($realm: ID, $target: ID, $actor: String) { auditLog(realm: $realm, target: $target, actor: $actor, first: 200) { entries { target changes { after } } } }`,
      { target: `${realm}:${someUser}`, actor: someUser },
    ),
    probe(
      'realmConfig',
      `query ($realm: ID) { realmConfig(realm: $realm) { realmId version fields overrides locked required theme } }`,
    ),
    probe(
      'realmOverview',
      `query ($realm: ID) { realmOverview(realm: $realm) { realmId users writesLastHour writesLastDay activeSubscriptions } }`,
    ),
    probe(
      'searchPreferences',
      `query ($realm: ID) { searchPreferences(realm: $realm, key: "displayName") { items { preference { ${PREFERENCE_FIELDS} } value source } scanned nextCursor } }`,
    ),
    probe(
      'searchPreferences (by value, after a user)',
      `query ($realm: ID, $value: JSON, $after: String) { searchPreferences(realm: $realm, key: "displayName", value: $value, after: $after) { items { preference { id } value } nextCursor } }`,
      { value: marker(someUser), after: `${realm}:${someUser}` },
    ),
    probe(
      'realmUsers',
      `query ($realm: ID) { realmUsers(realm: $realm) { items { userId preference { ${PREFERENCE_FIELDS} } access { disabled grantedRoles revokedRoles } } nextCursor } }`,
    ),
    probe(
      'userAccess',
      `query ($realm: ID, $userId: ID!) { userAccess(realm: $realm, userId: $userId) { realmId userId disabled grantedRoles revokedRoles updatedAt } }`,
      { userId: someUser },
    ),
    probe(
      'realmUsage',
      `query ($realm: ID) { realmUsage(realm: $realm, days: 35, topKeys: 50) { realmId date writes activeUsers topKeys { key writes } } }`,
    ),
  ];
}

/**
 * User-management writes that name a realm and a user, aimed at `realm`.
 * Apart from {@link realmProbes}, since one allowed would change access
 * or erase values.
 */
function userWriteProbes(realm: string, someUser: string): Probe[] {
  const probe = (name: string, query: string, extra = {}): Probe => ({
    name,
    query,
    variables: { realm, userId: someUser, ...extra },
  });
  const access = 'realmId userId disabled grantedRoles revokedRoles';
  return [
    probe(
      'grantRealmRole',
      `mutation ($realm: ID, $userId: ID!) { grantRealmRole(realm: $realm, userId: $userId, role: REALM_ADMIN) { ${access} } }`,
    ),
    probe(
      'revokeRealmRole',
      `mutation ($realm: ID, $userId: ID!) { revokeRealmRole(realm: $realm, userId: $userId, role: REALM_ADMIN) { ${access} } }`,
    ),
    probe(
      'disableUser',
      `mutation ($realm: ID, $userId: ID!) { disableUser(realm: $realm, userId: $userId) { ${access} } }`,
    ),
    probe(
      'enableUser',
      `mutation ($realm: ID, $userId: ID!) { enableUser(realm: $realm, userId: $userId) { ${access} } }`,
    ),
    probe(
      'erasePreferences',
      `mutation ($realm: ID, $userId: ID!) { erasePreferences(realm: $realm, userId: $userId) { preferenceId erasedKeys auditId } }`,
    ),
  ];
}

/** Reads of every realm at once: platform admins only. */
const ALL_REALMS_PROBES: Probe[] = [
  {
    name: 'auditLog (all realms)',
    query: `query { auditLog(allRealms: true, first: 200) { entries { realmId target changes { after } } nextCursor } }`,
    variables: {},
  },
];

/**
 * Configuration writes that name a realm, aimed at `realm`. Apart from
 * {@link realmProbes}, since one allowed would change the configuration.
 */
function configWriteProbes(realm: string): Probe[] {
  return [
    {
      name: 'updateRealmConfig',
      query: `mutation ($realm: ID) { updateRealmConfig(realm: $realm, input: { locked: ["theme"] }) { version { version } changes { path } } }`,
      variables: { realm },
    },
    {
      name: 'updateRealmConfig (expectedVersion)',
      query: `mutation ($realm: ID) { updateRealmConfig(realm: $realm, expectedVersion: 0, input: { theme: {} }) { version { version } } }`,
      variables: { realm },
    },
  ];
}

interface Actor {
  readonly name: string;
  readonly roles: Role[];
  token: string;
}

/** A response without what differs between any two requests. */
function normalized(response: GraphQLResponse): unknown {
  return {
    status: response.status,
    data: response.data,
    errors: response.errors?.map(({ extensions, ...rest }) => {
      const { requestId: _requestId, ...stable } = extensions ?? {};
      return { ...rest, extensions: stable };
    }),
  };
}

function codes(response: GraphQLResponse): unknown[] {
  return (response.errors ?? []).map((e) => e.extensions?.['code']);
}

/** One Redis value, as comparable text. */
async function fingerprint(redis: Redis, key: string): Promise<string> {
  const type = await redis.type(key);
  switch (type) {
    case 'hash': {
      const entries = Object.entries(await redis.hgetall(key)).sort();
      return `hash ${JSON.stringify(entries)}`;
    }
    case 'stream':
      return `stream ${JSON.stringify(await redis.xrange(key, '-', '+'))}`;
    case 'zset':
      return `zset ${JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES'))}`;
    case 'string':
      return `string ${await redis.get(key)}`;
    case 'set':
      return `set ${JSON.stringify((await redis.smembers(key)).sort())}`;
    case 'list':
      return `list ${JSON.stringify(await redis.lrange(key, 0, -1))}`;
    default:
      return type;
  }
}

describe('realm partitioning of stored keys (Redis)', () => {
  let t: TestSystem;
  let redis: Redis;
  let prefix: string;
  const user: Actor = { name: USER, roles: ['user'], token: '' };
  const admin: Actor = { name: ADMIN, roles: ['realm-admin'], token: '' };
  const platformAdmin: Actor = {
    name: PLATFORM_ADMIN,
    roles: ['platform-admin'],
    token: '',
  };

  const ask = (actor: Actor, probe: Probe, realm = A) =>
    graphql(t.url, probe.query, {
      realm,
      token: actor.token,
      variables: probe.variables,
    });

  /** Every key of this test's prefix, with its value. */
  async function keySnapshot(): Promise<Map<string, string>> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(
        cursor,
        'MATCH',
        `${prefix}:*`,
        'COUNT',
        500,
      );
      keys.push(...found);
      cursor = next;
    } while (cursor !== '0');
    const snapshot = new Map<string, string>();
    for (const key of keys.sort()) {
      snapshot.set(key, await fingerprint(redis, key));
    }
    return snapshot;
  }

  /** Keys created, changed or removed between two snapshots. */
  function touched(
    before: Map<string, string>,
    after: Map<string, string>,
  ): string[] {
    const keys = new Set([...before.keys(), ...after.keys()]);
    return [...keys].filter((k) => before.get(k) !== after.get(k)).sort();
  }

  /** `{sports}` of `<prefix>:{sports}:pref:x`, or null for another shape. */
  function partitionOf(key: string): string | null {
    const rest = key.startsWith(`${prefix}:`)
      ? key.slice(prefix.length + 1)
      : '';
    const match = /^\{([^}]+)\}:/.exec(rest);
    return match?.[1] ?? null;
  }

  /** What the store holds for a realm, read through the product's API. */
  async function realmState(realm: (typeof REALMS)[number], users: string[]) {
    const store = t.system.state.store;
    const preferences = await Promise.all(
      users.map(async (u) => t.system.preferences.read(realm, u)),
    );
    return {
      preferences,
      users: await store.listUsers(realm, { limit: 200 }),
      changes: await store.readChanges(realm, null, 1_000),
      latest: await store.latestCursor(realm),
      audit: await store.readAudit({ realm, limit: 200 }),
    };
  }

  async function foreignState() {
    return {
      [B]: await realmState(B, [...USERS[B], 'nobody']),
      [C]: await realmState(C, [...USERS[C], 'nobody']),
    };
  }

  /** Runs probes as `actor` and checks every answer is a clean refusal. */
  async function expectRefused(
    actor: Actor,
    probes: readonly Probe[],
    secrets: readonly string[],
    realm = A,
  ): Promise<Map<string, GraphQLResponse[]>> {
    const byName = new Map<string, GraphQLResponse[]>();
    for (const probe of probes) {
      const response = await ask(actor, probe, realm);
      const context = `${actor.name}: ${probe.name} ${JSON.stringify(probe.variables)} -> ${JSON.stringify(response)}`;
      expect(response.status, context).toBeLessThan(500);
      expect(codes(response), context).toEqual(['FORBIDDEN']);
      expect(response.errors?.[0]?.message, context).toBe('Not allowed.');
      // Refused by the subgraph (the field is null) or, for admin-only
      // fields, by the gateway before planning (the whole request, 403).
      const root = probe.query.match(/\{\s*(\w+)\(/)?.[1] ?? '';
      expect(
        response.data == null || response.data[root] === null,
        context,
      ).toBe(true);
      expect(leaked(response, secrets), context).toEqual([]);
      byName.set(probe.name, [...(byName.get(probe.name) ?? []), response]);
    }
    return byName;
  }

  /** Refusals of one operation must not depend on the target existing. */
  function expectIndistinguishable(byName: Map<string, GraphQLResponse[]>) {
    for (const [name, responses] of byName) {
      const first = normalized(responses[0] as GraphQLResponse);
      for (const response of responses.slice(1)) {
        expect(normalized(response), name).toEqual(first);
      }
    }
  }

  beforeAll(async () => {
    t = await startTestSystem('redis');
    redis = new Redis(REDIS_URL);
    const store = t.system.state.store;
    if (!(store instanceof RedisPreferenceStore))
      throw new Error('expected the Redis store');
    prefix = store.realmLayerKey(A, 'x').replace(/:\{sports\}:pref:x$/, '');

    for (const actor of [user, admin]) {
      actor.token = await t.token(A, actor.name, actor.roles);
    }
    platformAdmin.token = await t.token(
      A,
      platformAdmin.name,
      platformAdmin.roles,
    );

    // Seed: each user writes their own values, through the gateway.
    for (const realm of REALMS) {
      for (const name of USERS[realm]) {
        const token = await t.token(realm, name);
        const seeded = await graphql(
          t.url,
          `
            mutation ($name: JSON) {
              setPreferences(
                values: [{ key: "displayName", value: $name, scope: REALM }]
              ) {
                version
              }
            }
          `,
          { realm, token, variables: { name: marker(name) } },
        );
        expect(seeded.errors, JSON.stringify(seeded)).toBeUndefined();
        const division =
          realm === A
            ? graphql(
                t.url,
                `
                  mutation ($teams: [String!]) {
                    updateSportsPreferences(input: { favoriteTeams: $teams }) {
                      version
                    }
                  }
                `,
                { realm, token, variables: { teams: [marker(name)] } },
              )
            : realm === B
              ? graphql(
                  t.url,
                  `
                    mutation ($dates: TravelDatesInput) {
                      updateParksPreferences(
                        input: { trip: { partySize: 11, travelDates: $dates } }
                      ) {
                        version
                      }
                    }
                  `,
                  { realm, token, variables: { dates: travelDates(name) } },
                )
              : graphql(
                  t.url,
                  `
                    mutation {
                      updateEntertainmentPreferences(
                        input: { genres: [HORROR], autoplay: false }
                      ) {
                        version
                      }
                    }
                  `,
                  { realm, token },
                );
        const written = await division;
        expect(written.errors, JSON.stringify(written)).toBeUndefined();
      }
    }
  });

  afterAll(async () => {
    redis?.disconnect();
    await t?.stop();
  });

  it('probes every query and mutation that takes a realm or a preference id', async () => {
    // A root field added later with such an argument fails here until
    // this file probes it too.
    const response = await graphql<{
      __schema: Record<
        'queryType' | 'mutationType',
        { fields: { name: string; args: { name: string; type: unknown }[] }[] }
      >;
    }>(
      t.url,
      `
        {
          __schema {
            queryType {
              fields {
                name
                args {
                  name
                  type {
                    name
                    ofType {
                      name
                    }
                  }
                }
              }
            }
            mutationType {
              fields {
                name
                args {
                  name
                  type {
                    name
                    ofType {
                      name
                    }
                  }
                }
              }
            }
          }
        }
      `,
      { realm: A },
    );
    const schema = response.data?.__schema;
    expect(schema).toBeDefined();
    const targeted = [
      ...(schema?.queryType.fields ?? []),
      ...(schema?.mutationType.fields ?? []),
    ]
      .filter((field) =>
        field.args.some(
          (arg) =>
            ['id', 'realm', 'target'].includes(arg.name) ||
            JSON.stringify(arg.type).includes('"ID"'),
        ),
      )
      .map((field) => field.name)
      .sort();
    expect(targeted).toEqual([...PROBED_ROOT_FIELDS].sort());
  });

  it('seeds each realm under its own hash tag', async () => {
    const keys = [...(await keySnapshot()).keys()];
    const partitions = new Set(keys.map(partitionOf));
    // Seeding wrote realm-scoped values only: no global layer yet.
    expect([...partitions].sort()).toEqual(
      [...REALMS, 'config'].sort() as (string | null)[],
    );
    for (const realm of REALMS) {
      for (const name of USERS[realm]) {
        expect(keys).toContain(`${prefix}:{${realm}}:pref:${name}`);
      }
      const state = await t.system.preferences.read(realm, USERS[realm][0]!);
      expect(JSON.stringify(state)).toContain(marker(USERS[realm][0]!));
    }
  });

  it('refuses a plain user every operation on another realm or another user, alike for ids that exist and ids that do not', async () => {
    user.token = await t.token(A, USER, ['user']);
    const before = await keySnapshot();
    const foreignBefore = await foreignState();
    const otherBefore = await t.system.preferences.read(A, OTHER_USER);
    const auditBefore = await t.system.state.store.readAudit({
      realm: A,
      actor: USER,
      limit: 200,
    });
    const secrets = [
      ...secretsOfRealm(B),
      ...secretsOfRealm(C),
      ...secretsOf(A, OTHER_USER),
    ];

    const targets = [
      ...USERS[B].map((u) => `${B}:${u}`),
      `${B}:nobody-${run}`,
      ...USERS[C].map((u) => `${C}:${u}`),
      `${C}:nobody-${run}`,
      `${A}:${OTHER_USER}`,
      `${A}:nobody-${run}`,
      `no-such-realm:${USERS[B][0]}`,
      // The same user name in another realm is another preference.
      `${B}:${USER}`,
    ];
    const byId = await expectRefused(
      user,
      targets.flatMap((id) => idProbes(id)),
      secrets,
    );
    expectIndistinguishable(byId);

    // Admin operations, for any realm including the user's own.
    const byRealm = await expectRefused(
      user,
      [
        ...realmProbes(B, USERS[B][0]!),
        ...realmProbes(C, USERS[C][0]!),
        ...realmProbes(A, OTHER_USER),
        ...realmProbes('no-such-realm', USERS[B][0]!),
        ...[B, C, A, 'no-such-realm'].flatMap(configWriteProbes),
        ...userWriteProbes(B, USERS[B][0]!),
        ...userWriteProbes(C, USERS[C][0]!),
        ...userWriteProbes(A, OTHER_USER),
        ...userWriteProbes('no-such-realm', USERS[B][0]!),
        ...ALL_REALMS_PROBES,
      ],
      secrets,
    );
    expectIndistinguishable(byRealm);
    // And without naming a realm (the request's own).
    await expectRefused(
      user,
      realmProbes(A, OTHER_USER).map((p) => ({
        ...p,
        variables: { ...p.variables, realm: null },
      })),
      secrets,
    );

    expect(await foreignState()).toEqual(foreignBefore);
    expect(await t.system.preferences.read(A, OTHER_USER)).toEqual(otherBefore);
    // Only A's audit log recorded the refused writes; nothing else moved.
    const changed = touched(before, await keySnapshot());
    expect(changed).toEqual([`${prefix}:{${A}}:audit`]);
    const seen = new Set(auditBefore.entries.map((e) => e.id));
    const refusals = (
      await t.system.state.store.readAudit({
        realm: A,
        actor: USER,
        limit: 200,
      })
    ).entries.filter((e) => !seen.has(e.id));
    expect(refusals.length).toBeGreaterThan(0);
    for (const entry of refusals) {
      expect(entry).toMatchObject({ outcome: 'FORBIDDEN', changes: [] });
      expect(leaked(entry, secrets)).toEqual([]);
    }
  });

  it("refuses a realm admin every operation on another realm, and shows them only their own realm's users", async () => {
    const before = await keySnapshot();
    const foreignBefore = await foreignState();
    const secrets = [...secretsOfRealm(B), ...secretsOfRealm(C)];

    const targets = [
      ...USERS[B].map((u) => `${B}:${u}`),
      `${B}:nobody-${run}`,
      ...USERS[C].map((u) => `${C}:${u}`),
      `${C}:nobody-${run}`,
      `no-such-realm:${USERS[B][0]}`,
      `${B}:${ADMIN}`,
    ];
    const byId = await expectRefused(
      admin,
      targets.flatMap((id) => idProbes(id)),
      secrets,
    );
    expectIndistinguishable(byId);
    const byRealm = await expectRefused(
      admin,
      [
        ...realmProbes(B, USERS[B][0]!),
        ...realmProbes(C, USERS[C][0]!),
        ...realmProbes('no-such-realm', USERS[B][0]!),
        ...[B, C, 'no-such-realm'].flatMap(configWriteProbes),
        ...userWriteProbes(B, USERS[B][0]!),
        ...userWriteProbes(C, USERS[C][0]!),
        ...userWriteProbes('no-such-realm', USERS[B][0]!),
        ...ALL_REALMS_PROBES,
      ],
      secrets,
    );
    expectIndistinguishable(byRealm);

    // What the admin may read in A carries nothing of B or C: the realm's
    // list, its audit log (also filtered by the ids they asked for, or
    // paged from a cursor of B's log), and A's view of a B user's id.
    const foreignAuditCursor = foreignBefore[B].audit.entries[0]?.id;
    expect(foreignAuditCursor).toBeDefined();
    const allowed: Probe[] = [
      ...realmProbes(A, OTHER_USER),
      {
        name: 'auditLog of A, filtered by the ids of B asked for',
        query: `query ($target: ID) { auditLog(target: $target, first: 200) { entries { target outcome changes { after } } } }`,
        variables: { target: `${B}:${USERS[B][0]}` },
      },
      {
        name: 'auditLog (cursor of another realm)',
        query: `query ($after: String) { auditLog(after: $after) { entries { target changes { after } } } }`,
        variables: { after: foreignAuditCursor },
      },
      {
        name: 'preference (same user id, own realm)',
        query: `query ($id: ID!) { preference(id: $id) { ${PREFERENCE_FIELDS} } }`,
        variables: { id: `${A}:${USERS[B][0]}` },
      },
      {
        name: 'realmDefinitions of another realm (public configuration)',
        query: `query ($realm: ID) { realmDefinitions(realm: $realm) { key default rules } }`,
        variables: { realm: B },
      },
      {
        name: 'realms (public configuration)',
        query: `{ realms { id definitions { key default rules } } }`,
        variables: {},
      },
    ];
    for (const probe of allowed) {
      const response = await ask(admin, probe);
      const context = `${probe.name} -> ${JSON.stringify(response)}`;
      expect(response.errors, context).toBeUndefined();
      expect(leaked(response, secrets), context).toEqual([]);
    }
    // A's log names the B ids A's callers were refused, and nothing more.
    const ownLog = await ask(
      admin,
      allowed.find(
        (p) => p.name === 'auditLog of A, filtered by the ids of B asked for',
      ) as Probe,
    );
    const entries = (
      ownLog.data?.['auditLog'] as { entries: Record<string, unknown>[] }
    ).entries;
    expect(entries.length).toBeGreaterThan(0);
    for (const entry of entries) {
      expect(entry).toEqual({
        target: `${B}:${USERS[B][0]}`,
        outcome: 'FORBIDDEN',
        changes: [],
      });
    }
    const list = await ask(admin, allowed[0] as Probe);
    const items = (
      list.data?.['realmPreferences'] as { items: { id: string }[] }
    ).items;
    expect(items.map((i) => i.id).sort()).toEqual(
      USERS[A].map((u) => `${A}:${u}`),
    );
    // Positive control: the scan does find values where they may be shown.
    expect(leaked(list, secretsOfRealm(A)).sort()).toEqual(
      secretsOfRealm(A).sort(),
    );

    expect(await foreignState()).toEqual(foreignBefore);
    expect(touched(before, await keySnapshot())).toEqual([
      `${prefix}:{${A}}:audit`,
    ]);
  });

  it("keeps A's own writes (user, admin, division) inside A's partition", async () => {
    const before = await keySnapshot();
    const foreignBefore = await foreignState();
    const writes: [Actor, string, Record<string, unknown>][] = [
      [
        user,
        `mutation { setPreferences(values: [{ key: "theme", value: "light", scope: REALM }, { key: "sports.spoilerProtection", value: true }]) { version } }`,
        {},
      ],
      [
        user,
        `mutation { updateSportsPreferences(input: { statsUpdateFrequency: HOURLY }) { version } }`,
        {},
      ],
      [
        admin,
        `mutation ($id: ID) { setPreferences(id: $id, values: [{ key: "theme", value: "dark", scope: REALM }]) { version } }`,
        { id: `${A}:${OTHER_USER}` },
      ],
      [
        admin,
        `mutation ($id: ID) { updateSportsPreferences(id: $id, input: { gameAlerts: { events: [TRADE] } }) { version } }`,
        { id: `${A}:${OTHER_USER}` },
      ],
      [
        admin,
        `mutation ($id: ID) { resetPreferences(id: $id, keys: ["theme"]) { version } }`,
        { id: `${A}:${OTHER_USER}` },
      ],
      // A new user of A, named like a user of B: still A's partition.
      [
        admin,
        `mutation ($id: ID) { setPreferences(id: $id, values: [{ key: "theme", value: "dark", scope: REALM }]) { version } }`,
        { id: `${A}:${USERS[B][0]}` },
      ],
    ];
    for (const [actor, query, variables] of writes) {
      const response = await graphql(t.url, query, {
        realm: A,
        token: actor.token,
        variables,
      });
      expect(response.errors, JSON.stringify(response)).toBeUndefined();
    }

    // Another division's mutation for one's own preference is refused by
    // that division as being of the wrong realm, before anything is stored.
    const wrongDivision = await graphql(
      t.url,
      `
        mutation {
          updateParksPreferences(input: { trip: { partySize: 3 } }) {
            id
          }
        }
      `,
      { realm: A, token: user.token },
    );
    expect(wrongDivision.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      violations: [{ rule: 'realm' }],
    });

    expect(await foreignState()).toEqual(foreignBefore);
    const changed = touched(before, await keySnapshot());
    expect(changed.length).toBeGreaterThan(0);
    for (const key of changed) expect(partitionOf(key), key).toBe(A);
    expect(changed).toEqual(
      expect.arrayContaining([
        `${prefix}:{${A}}:pref:${USER}`,
        `${prefix}:{${A}}:pref:${OTHER_USER}`,
        `${prefix}:{${A}}:pref:${USERS[B][0]}`,
        `${prefix}:{${A}}:changes`,
        `${prefix}:{${A}}:audit`,
        `${prefix}:{${A}}:users`,
      ]),
    );
  });

  it('puts a global value under {global} and tells other realms only that the same user changed', async () => {
    const before = await keySnapshot();
    const foreignBefore = await foreignState();
    const response = await graphql(
      t.url,
      `
        mutation {
          setPreferences(
            values: [{ key: "locale", value: "de-DE", scope: GLOBAL }]
          ) {
            version
          }
        }
      `,
      { realm: A, token: user.token },
    );
    expect(response.errors).toBeUndefined();

    const changed = touched(before, await keySnapshot());
    const outside = changed.filter((k) => partitionOf(k) !== A);
    // Documented fan-out: one event per realm, since the value follows the
    // user there; nothing else outside A moves.
    expect(outside.sort()).toEqual(
      [
        `${prefix}:{global}:pref:${USER}`,
        `${prefix}:{${B}}:changes`,
        `${prefix}:{${C}}:changes`,
      ].sort(),
    );
    for (const realm of [B, C] as const) {
      const after = await realmState(realm, [...USERS[realm], 'nobody']);
      expect(after.preferences).toEqual(foreignBefore[realm].preferences);
      expect(after.audit).toEqual(foreignBefore[realm].audit);
      expect(after.users).toEqual(foreignBefore[realm].users);
      const fresh = after.changes.events.slice(
        foreignBefore[realm].changes.events.length,
      );
      expect(after.changes.events.slice(0, -fresh.length)).toEqual(
        foreignBefore[realm].changes.events,
      );
      expect(fresh).toEqual([
        expect.objectContaining({
          realm,
          userId: USER,
          preferenceId: `${realm}:${USER}`,
          changedKeys: ['locale'],
          originRealm: A,
          actor: USER,
        }),
      ]);
    }
  });

  it("keeps a realm admin of A out of the user-global layer, which B reads too: GLOBAL is refused, a global key without scope lands in A's realm layer", async () => {
    // The user-global layer is keyed by user id alone (it follows the user
    // into every realm), so writing it for `A:<id>` would change what <id>
    // sees in B. Only the user and platform admins may; A's admin may set
    // A's realm layer of the same key.
    const victim = USERS[B][1]!;
    const write = (scope: string) =>
      graphql(
        t.url,
        `
          mutation ($id: ID) {
            setPreferences(
              id: $id
              values: [{ key: "timeZone", value: "Asia/Tokyo"${scope} }]
            ) {
              version
              values(keys: ["timeZone"]) { value source }
            }
          }
        `,
        { realm: A, token: admin.token, variables: { id: `${A}:${victim}` } },
      );
    const reset = graphql(
      t.url,
      `
        mutation ($id: ID) {
          resetPreferences(id: $id, keys: ["timeZone"], scope: GLOBAL) {
            version
          }
        }
      `,
      { realm: A, token: admin.token, variables: { id: `${A}:${victim}` } },
    );

    const before = await keySnapshot();
    const foreignBefore = await foreignState();
    for (const refused of [await write(', scope: GLOBAL'), await reset]) {
      expect(codes(refused)).toEqual(['FORBIDDEN']);
    }
    expect(touched(before, await keySnapshot())).toEqual([
      `${prefix}:{${A}}:audit`,
    ]);

    const natural = await write('');
    expect(natural.errors).toBeUndefined();
    expect(
      (natural.data?.['setPreferences'] as { values: unknown[] }).values,
    ).toEqual([{ value: 'Asia/Tokyo', source: 'USER_REALM' }]);
    const outside = touched(before, await keySnapshot()).filter(
      (k) => partitionOf(k) !== A,
    );
    expect(outside).toEqual([]);
    expect(await foreignState()).toEqual(foreignBefore);
    const inB = await t.system.preferences.read(B, victim);
    expect(inB.globalLayer.values).not.toHaveProperty('timeZone');
    const inA = await t.system.preferences.read(A, victim);
    expect(inA.realmLayer.values['timeZone']).toBe('Asia/Tokyo');
  });

  it('lets a platform admin past access, where a division refuses a preference of another realm (rule "realm") and stores nothing', async () => {
    const foreignBefore = await foreignState();
    const ownBefore = await t.system.preferences.read(A, OTHER_USER);
    const aChangesBefore = await t.system.state.store.readChanges(
      A,
      null,
      1000,
    );
    const cases: [string, string][] = [
      [`updateSportsPreferences`, `${B}:${USERS[B][0]}`],
      [`updateSportsPreferences`, `${C}:${USERS[C][0]}`],
      [`updateParksPreferences`, `${A}:${OTHER_USER}`],
      [`updateParksPreferences`, `${C}:${USERS[C][0]}`],
      [`updateEntertainmentPreferences`, `${B}:${USERS[B][0]}`],
    ];
    const inputs: Record<string, string> = {
      updateSportsPreferences: '{ favoriteTeams: ["attack"] }',
      updateParksPreferences: '{ trip: { partySize: 1 } }',
      updateEntertainmentPreferences: '{ autoplay: true }',
    };
    for (const [mutation, id] of cases) {
      const response = await graphql(
        t.url,
        `mutation ($id: ID) { ${mutation}(id: $id, input: ${inputs[mutation]}) { id version } }`,
        { realm: A, token: platformAdmin.token, variables: { id } },
      );
      const context = `${mutation} ${id} -> ${JSON.stringify(response)}`;
      expect(response.status, context).toBeLessThan(500);
      expect(response.data, context).toBeNull();
      expect(response.errors?.[0]?.extensions, context).toMatchObject({
        code: 'BAD_USER_INPUT',
        violations: [{ path: ['id'], rule: 'realm' }],
      });
    }
    // Positive control: B's values are there for a caller allowed to see
    // them, so the refusals above refused something real.
    const allowed = await graphql(
      t.url,
      `query ($id: ID!) { preference(id: $id) { ${PREFERENCE_FIELDS} } }`,
      {
        realm: A,
        token: platformAdmin.token,
        variables: { id: `${B}:${USERS[B][0]}` },
      },
    );
    expect(allowed.errors).toBeUndefined();
    expect(leaked(allowed, secretsOf(B, USERS[B][0]!)).sort()).toEqual(
      secretsOf(B, USERS[B][0]!).sort(),
    );

    // Only a platform admin, who may see every realm, learns that a realm
    // does not exist.
    const unknown = await graphql(
      t.url,
      `
        query ($id: ID!) {
          preference(id: $id) {
            id
          }
        }
      `,
      {
        realm: A,
        token: platformAdmin.token,
        variables: { id: 'no-such-realm:x' },
      },
    );
    expect(codes(unknown)).toEqual(['NOT_FOUND']);

    const after = await foreignState();
    for (const realm of [B, C] as const) {
      expect(after[realm].preferences).toEqual(
        foreignBefore[realm].preferences,
      );
      expect(after[realm].changes).toEqual(foreignBefore[realm].changes);
    }
    expect(await t.system.preferences.read(A, OTHER_USER)).toEqual(ownBefore);
    expect(await t.system.state.store.readChanges(A, null, 1000)).toEqual(
      aChangesBefore,
    );
  });

  it("refuses a token of A in B's realm before anything runs", async () => {
    for (const actor of [user, admin]) {
      const response = await graphql(
        t.url,
        `{ myPreferences { ${PREFERENCE_FIELDS} } }`,
        { realm: B, token: actor.token },
      );
      expect(response.status).toBe(401);
      expect(codes(response)).toEqual(['UNAUTHENTICATED']);
      expect(response.data ?? null).toBeNull();
      expect(leaked(response, secretsOfRealm(B))).toEqual([]);
    }
  });

  it('leaves every key under the hash tag of a written realm, {global} or {config}', async () => {
    const keys = [...(await keySnapshot()).keys()];
    expect(keys.length).toBeGreaterThan(0);
    const misplaced = keys.filter((key) => {
      const partition = partitionOf(key);
      return (
        partition === null ||
        !([...REALMS, 'global', 'config'] as string[]).includes(partition)
      );
    });
    expect(misplaced).toEqual([]);
    // The only global layer is the user's own global write above; the
    // realm admin's writes stayed in A.
    expect(keys.filter((k) => partitionOf(k) === 'global')).toEqual([
      `${prefix}:{global}:pref:${USER}`,
    ]);
    // Each realm's keys name only that realm's users.
    for (const realm of [B, C] as const) {
      const prefs = keys
        .filter((k) => k.startsWith(`${prefix}:{${realm}}:pref:`))
        .map((k) => k.slice(`${prefix}:{${realm}}:pref:`.length))
        .sort();
      expect(prefs).toEqual([...USERS[realm]].sort());
    }
  });
});

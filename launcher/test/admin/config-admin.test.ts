import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Role } from '@realms/platform';
import {
  graphql,
  REDIS_URL,
  startTestSystem,
  type GraphQLResponse,
  type TestSystem,
} from '../support/test-system.js';
import {
  freePort,
  runNpm,
  waitForOk,
  type ServiceProcess,
} from '../support/processes.js';
import { migrateAllStoredValues } from '../../src/migrate.js';

/*
 * The configuration admin API end to end, through the gateway, on Redis:
 * reading and changing a realm's configuration and the global schema,
 * the version history, rollback, refusals (wrong role, loosening, stale
 * version, stored values left invalid), a second gateway process
 * following a change, and migrations giving the same values lazily and
 * in batch.
 */

const REALM_CONFIG = /* GraphQL */ `
  query ($realm: ID) {
    realmConfig(realm: $realm) {
      realmId
      version
      fields
      overrides
      locked
      required
      theme
    }
  }
`;

const UPDATE_REALM = /* GraphQL */ `
  mutation (
    $realm: ID
    $input: RealmConfigInput!
    $expectedVersion: Int
    $comment: String
    $migrations: [MigrationInput!]
  ) {
    updateRealmConfig(
      realm: $realm
      input: $input
      expectedVersion: $expectedVersion
      comment: $comment
      migrations: $migrations
    ) {
      version {
        version
        actor
        comment
        realmIds
      }
      changes {
        path
        before
        after
      }
    }
  }
`;

const UPDATE_GLOBAL = /* GraphQL */ `
  mutation ($input: JSON!, $expectedVersion: Int, $comment: String) {
    updateGlobalSchema(
      input: $input
      expectedVersion: $expectedVersion
      comment: $comment
    ) {
      version {
        version
        realmIds
      }
      changes {
        path
      }
    }
  }
`;

const ROLLBACK = /* GraphQL */ `
  mutation ($version: Int!) {
    rollbackConfig(version: $version, comment: "undo") {
      version {
        version
        comment
      }
      changes {
        path
        before
        after
      }
    }
  }
`;

const VERSIONS = /* GraphQL */ `
  query ($first: Int, $before: Int) {
    configVersions(first: $first, before: $before) {
      version
      actor
      comment
      realmIds
    }
  }
`;

const DIFF = /* GraphQL */ `
  query ($from: Int!, $to: Int!) {
    configDiff(from: $from, to: $to) {
      path
      before
      after
    }
  }
`;

const VALUES = /* GraphQL */ `
  query ($keys: [String!]) {
    myPreferences {
      values(keys: $keys) {
        key
        value
        source
      }
    }
  }
`;

type Values = {
  myPreferences: { values: { key: string; value: unknown; source: string }[] };
};
type Violation = { key: string | null; rule: string; message: string };
type ChangeAnswer = {
  version: { version: number; actor: string; comment: string | null };
  changes: { path: string; before: unknown; after: unknown }[];
};

function code(response: GraphQLResponse): unknown {
  return response.errors?.[0]?.extensions?.['code'];
}

function violations(response: GraphQLResponse): Violation[] {
  return (response.errors?.[0]?.extensions?.['violations'] ??
    []) as Violation[];
}

describe('configuration admin API (Redis)', () => {
  let t: TestSystem;
  const tokens = new Map<string, string>();

  /** A token per realm, user and role, made once. */
  const token = async (realm: string, user: string, role: Role) => {
    const id = `${realm}|${user}|${role}`;
    let found = tokens.get(id);
    if (!found) {
      found = await t.token(realm, user, [role]);
      tokens.set(id, found);
    }
    return found;
  };

  const as = async <T = Record<string, unknown>>(
    who: { realm: string; user: string; role: Role },
    query: string,
    variables: Record<string, unknown> = {},
  ) =>
    graphql<T>(t.url, query, {
      realm: who.realm,
      token: await token(who.realm, who.user, who.role),
      variables,
    });

  const sportsAdmin = {
    realm: 'sports',
    user: 'sam-admin',
    role: 'realm-admin',
  } as const;
  const parksAdmin = {
    realm: 'parks',
    user: 'pat-admin',
    role: 'realm-admin',
  } as const;
  const platformAdmin = {
    realm: 'sports',
    user: 'root',
    role: 'platform-admin',
  } as const;
  const sportsUser = (user: string) =>
    ({ realm: 'sports', user, role: 'user' }) as const;

  const currentVersion = () => t.system.liveCatalog.version;

  const effective = async (user: string, key: string) => {
    const response = await as<Values>(sportsUser(user), VALUES, {
      keys: [key],
    });
    expect(response.errors, JSON.stringify(response)).toBeUndefined();
    return response.data?.myPreferences.values[0];
  };

  const setValue = async (user: string, key: string, value: unknown) => {
    const response = await as(
      sportsUser(user),
      'mutation ($key: String!, $value: JSON) { setPreferences(values: [{ key: $key, value: $value, scope: REALM }]) { version } }',
      { key, value },
    );
    expect(response.errors, JSON.stringify(response)).toBeUndefined();
  };

  const auditOf = (realm: string, actor: string) =>
    t.system.state.store.readAudit({ realm, actor, limit: 50 });

  beforeAll(async () => {
    t = await startTestSystem('redis');
  });
  afterAll(() => t?.stop());

  it("shows a realm admin their realm's configuration, and refuses everyone else", async () => {
    const own = await as<{ realmConfig: Record<string, unknown> }>(
      sportsAdmin,
      REALM_CONFIG,
    );
    expect(own.errors).toBeUndefined();
    expect(own.data?.realmConfig).toMatchObject({
      realmId: 'sports',
      version: currentVersion(),
      overrides: { theme: { default: 'dark' } },
      locked: [],
    });
    expect(own.data?.realmConfig['fields']).toHaveProperty('spoilerProtection');

    const platform = await as(platformAdmin, REALM_CONFIG, { realm: 'parks' });
    expect(platform.errors).toBeUndefined();

    for (const [who, realm] of [
      [sportsAdmin, 'parks'],
      [sportsUser('ursula'), null],
    ] as const) {
      const refused = await as(who, REALM_CONFIG, { realm });
      expect(code(refused)).toBe('FORBIDDEN');
      expect(refused.errors?.[0]?.message).toBe('Not allowed.');
    }
    const anonymous = await graphql(t.url, REALM_CONFIG, { realm: 'sports' });
    expect(code(anonymous)).toBe('UNAUTHENTICATED');
  });

  it('changes a realm default: a new version, new effective values, an audit record', async () => {
    const before = currentVersion();
    expect(await effective('una', 'theme')).toMatchObject({
      value: 'dark',
      source: 'REALM_DEFAULT',
    });

    const changed = await as<{ updateRealmConfig: ChangeAnswer }>(
      sportsAdmin,
      UPDATE_REALM,
      {
        input: {
          overrides: { ...sportsOverrides(), theme: { default: 'light' } },
        },
        expectedVersion: before,
        comment: 'lighter sports',
      },
    );
    expect(changed.errors, JSON.stringify(changed)).toBeUndefined();
    expect(changed.data?.updateRealmConfig).toEqual({
      version: {
        version: before + 1,
        actor: 'sam-admin',
        comment: 'lighter sports',
        realmIds: ['sports'],
      },
      changes: [
        {
          path: 'realms/sports: overrides.theme.default',
          before: 'dark',
          after: 'light',
        },
      ],
    });
    expect(await effective('una', 'theme')).toMatchObject({ value: 'light' });

    const versions = await as<{ configVersions: { version: number }[] }>(
      platformAdmin,
      VERSIONS,
      { first: 2 },
    );
    expect(versions.data?.configVersions).toMatchObject([
      { version: before + 1, actor: 'sam-admin', comment: 'lighter sports' },
      { version: before },
    ]);
    const diff = await as(sportsAdmin, DIFF, { from: before, to: before + 1 });
    expect(diff.data?.['configDiff']).toEqual([
      {
        path: 'realms/sports: overrides.theme.default',
        before: 'dark',
        after: 'light',
      },
    ]);
    // The parks admin sees neither the sports version nor its diff.
    const parksVersions = await as<{ configVersions: { version: number }[] }>(
      parksAdmin,
      VERSIONS,
      { first: 5 },
    );
    expect(
      parksVersions.data?.configVersions.map((v) => v.version),
    ).not.toContain(before + 1);
    const parksDiff = await as(parksAdmin, DIFF, {
      from: before,
      to: before + 1,
    });
    expect(parksDiff.data?.['configDiff']).toEqual([]);

    const [record] = (await auditOf('sports', 'sam-admin')).entries;
    expect(record).toMatchObject({
      target: 'config:sports',
      outcome: 'ACCEPTED',
      changes: [
        {
          key: 'realms/sports: overrides.theme.default',
          before: 'dark',
          after: 'light',
        },
      ],
    });
  });

  it('refuses the wrong role, and records the refusal', async () => {
    const input = { overrides: sportsOverrides() };
    const attempts: [
      typeof sportsAdmin | ReturnType<typeof sportsUser> | typeof parksAdmin,
      string,
      Record<string, unknown>,
    ][] = [
      [sportsUser('ursula'), UPDATE_REALM, { input }],
      [parksAdmin, UPDATE_REALM, { realm: 'sports', input }],
      [sportsAdmin, UPDATE_GLOBAL, { input: globalSchema() }],
      [sportsAdmin, ROLLBACK, { version: 1 }],
    ];
    const version = currentVersion();
    for (const [who, query, variables] of attempts) {
      const refused = await as(who, query, variables);
      expect(code(refused), JSON.stringify(refused)).toBe('FORBIDDEN');
      expect(refused.data ?? null).toBeNull();
    }
    expect(currentVersion()).toBe(version);

    const [parksRecord] = (await auditOf('parks', 'pat-admin')).entries;
    expect(parksRecord).toMatchObject({
      target: 'config:sports',
      outcome: 'FORBIDDEN',
      changes: [],
    });
    const userRecords = (await auditOf('sports', 'ursula')).entries;
    expect(userRecords[0]).toMatchObject({
      target: 'config:sports',
      outcome: 'FORBIDDEN',
    });
  });

  it('refuses a loosening with the exact reasons, and a stale version with CONFLICT', async () => {
    const version = currentVersion();
    const loose = await as(sportsAdmin, UPDATE_REALM, {
      input: {
        overrides: {
          ...sportsOverrides(),
          theme: { enum: ['light', 'dark', 'system', 'neon'], default: 'dark' },
        },
      },
    });
    expect(code(loose)).toBe('BAD_USER_INPUT');
    expect(violations(loose)).toEqual([
      expect.objectContaining({
        file: 'schema/realms/sports.json',
        key: 'theme',
        rule: 'enum',
        message: expect.stringContaining(
          'loosens the global enum: adds "neon"',
        ),
      }),
    ]);

    // A global change that a realm's override would then loosen.
    const global = globalSchema();
    global.properties['notifications.channels']!['maxItems'] = 2;
    global.properties['notifications.channels']!['default'] = ['email'];
    const narrowed = await as(platformAdmin, UPDATE_GLOBAL, { input: global });
    expect(code(narrowed)).toBe('BAD_USER_INPUT');
    expect(violations(narrowed)).toContainEqual(
      expect.objectContaining({
        file: 'schema/realms/sports.json',
        key: 'notifications.channels',
        rule: 'maxItems',
      }),
    );

    const stale = await as(sportsAdmin, UPDATE_REALM, {
      input: { locked: [] },
      expectedVersion: version - 1,
    });
    expect(code(stale)).toBe('CONFLICT');
    expect(stale.errors?.[0]?.extensions?.['currentVersion']).toBe(version);
    expect(currentVersion()).toBe(version);

    const outcomes = (await auditOf('sports', 'sam-admin')).entries
      .slice(0, 2)
      .map((e) => e.outcome);
    expect(outcomes).toEqual(['CONFLICT', 'INVALID']);
  });

  it('refuses a change that would make stored values invalid, until a migration says how they move', async () => {
    await setValue('vera', 'theme', 'system');
    const narrower = {
      overrides: {
        ...sportsOverrides(),
        theme: { enum: ['light', 'dark'], default: 'light' },
      },
    };
    const refused = await as(sportsAdmin, UPDATE_REALM, { input: narrower });
    expect(code(refused)).toBe('BAD_USER_INPUT');
    expect(violations(refused)).toEqual([
      expect.objectContaining({
        file: 'schema/realms/sports.json',
        key: 'theme',
        rule: 'storedValues.enum',
        message: expect.stringMatching(
          /^1 stored value of "theme" would break rule "enum" .*declare a migration for "theme"$/,
        ),
      }),
    ]);

    const accepted = await as(sportsAdmin, UPDATE_REALM, {
      input: narrower,
      migrations: [
        { key: 'theme', transform: 'MAP_VALUES', mapping: { system: 'dark' } },
      ],
    });
    expect(accepted.errors, JSON.stringify(accepted)).toBeUndefined();
    expect(await effective('vera', 'theme')).toEqual({
      key: 'theme',
      value: 'dark',
      source: 'USER_REALM',
    });
  });

  it('rolls back to an earlier version, restoring its effective values', async () => {
    const target = currentVersion();
    expect(await effective('wes', 'theme')).toMatchObject({ value: 'light' });
    const changed = await as(sportsAdmin, UPDATE_REALM, {
      input: {
        overrides: {
          ...currentOverrides(t),
          theme: { enum: ['light', 'dark'], default: 'dark' },
        },
      },
    });
    expect(changed.errors, JSON.stringify(changed)).toBeUndefined();
    expect(await effective('wes', 'theme')).toMatchObject({ value: 'dark' });

    const rolledBack = await as<{ rollbackConfig: ChangeAnswer }>(
      platformAdmin,
      ROLLBACK,
      { version: target },
    );
    expect(rolledBack.errors, JSON.stringify(rolledBack)).toBeUndefined();
    expect(rolledBack.data?.rollbackConfig.version).toEqual({
      version: target + 2,
      comment: 'undo',
    });
    expect(rolledBack.data?.rollbackConfig.changes).toEqual([
      {
        path: 'realms/sports: overrides.theme.default',
        before: 'dark',
        after: 'light',
      },
    ]);
    expect(await effective('wes', 'theme')).toMatchObject({
      value: 'light',
      source: 'REALM_DEFAULT',
    });
    expect(t.system.liveCatalog.documents).toEqual(
      (await t.system.state.configVersions.get(target))?.documents,
    );
  });

  it('migrates renamed and retyped values the same lazily and in batch', async () => {
    const users = ['mia', 'milo', 'max'];
    const stored = [true, false, true];
    for (const [i, user] of users.entries())
      await setValue(user, 'sports.spoilerProtection', stored[i]);

    // spoilerProtection (boolean) becomes hideScores ("on" | "off").
    const config = t.system.liveCatalog.documents.realms['sports'] as {
      fields: Record<string, unknown>;
      required: string[];
    };
    const { spoilerProtection: _, ...fields } = config.fields;
    const input = {
      fields: {
        ...fields,
        hideScores: { type: 'string', enum: ['on', 'off'], default: 'off' },
      },
      required: config.required.map((name) =>
        name === 'spoilerProtection' ? 'hideScores' : name,
      ),
    };
    const rename = {
      key: 'sports.hideScores',
      transform: 'RENAME',
      from: 'sports.spoilerProtection',
    };

    const renameOnly = await as(sportsAdmin, UPDATE_REALM, {
      input,
      migrations: [rename],
    });
    expect(code(renameOnly)).toBe('BAD_USER_INPUT');
    expect(violations(renameOnly).map((v) => [v.key, v.rule])).toEqual([
      ['sports.hideScores', 'storedValues.type'],
    ]);
    const noMigration = await as(sportsAdmin, UPDATE_REALM, { input });
    expect(violations(noMigration).map((v) => [v.key, v.rule])).toEqual([
      ['sports.spoilerProtection', 'storedValues.removed'],
    ]);

    const migrated = await as(sportsAdmin, UPDATE_REALM, {
      input,
      comment: 'spoilers become hideScores',
      migrations: [
        rename,
        { key: 'sports.hideScores', transform: 'TO_STRING' },
        {
          key: 'sports.hideScores',
          transform: 'MAP_VALUES',
          mapping: { true: 'on', false: 'off' },
        },
        { key: 'sports.hideScores', transform: 'DEFAULT', value: 'off' },
      ],
    });
    expect(migrated.errors, JSON.stringify(migrated)).toBeUndefined();

    // Lazily: on read, nothing written.
    const lazy = [];
    for (const user of users)
      lazy.push(await effective(user, 'sports.hideScores'));
    expect(lazy.map((v) => v?.value)).toEqual(['on', 'off', 'on']);
    const store = t.system.state.store;
    const raw = await store.readMany('sports', users);
    expect(
      raw.map((p) => p.realmLayer.values['sports.spoilerProtection']),
    ).toEqual(stored);

    // In batch: the same function, written back.
    const result = await migrateAllStoredValues({
      store,
      realms: t.system.catalog.realmIds,
      state: () => t.system.liveCatalog.migrations,
    });
    expect(result.migrated).toBeGreaterThanOrEqual(users.length);
    const written = await store.readMany('sports', users);
    expect(
      written.map((p) => p.realmLayer.values['sports.hideScores']),
    ).toEqual(lazy.map((v) => v?.value));
    for (const p of written) {
      expect(p.realmLayer.values).not.toHaveProperty(
        'sports.spoilerProtection',
      );
      expect(p.realmLayer.configVersion).toBe(currentVersion());
    }
    const afterBatch = [];
    for (const user of users)
      afterBatch.push(await effective(user, 'sports.hideScores'));
    expect(afterBatch).toEqual(lazy);

    // A second run finds nothing left to move.
    const again = await migrateAllStoredValues({
      store,
      realms: t.system.catalog.realmIds,
      state: () => t.system.liveCatalog.migrations,
    });
    expect(again.migrated).toBe(0);
  });

  describe('a second gateway process', () => {
    const processes: ServiceProcess[] = [];
    afterAll(async () => {
      await Promise.allSettled(processes.map((p) => p.stop()));
    }, 30_000);

    it('follows a configuration version published through the first', async () => {
      const store = t.system.state.store as unknown as {
        realmLayerKey(realm: string, user: string): string;
      };
      const prefix = store
        .realmLayerKey('sports', 'x')
        .replace(/:\{sports\}:pref:x$/, '');
      const env = {
        REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        REALMS_KEYS_DIR: t.keysDir,
        LOG_LEVEL: 'warn',
      };
      const corePort = await freePort();
      const gatewayPort = await freePort();
      const urls = t.system.subgraphUrls;
      processes.push(
        runNpm(['start:subgraph', '--', 'core'], {
          ...env,
          CORE_PORT: String(corePort),
        }),
        runNpm(['start:gateway'], {
          ...env,
          PORT: String(gatewayPort),
          CORE_URL: `http://127.0.0.1:${corePort}/graphql`,
          SPORTS_URL: urls.sports,
          ENTERTAINMENT_URL: urls.entertainment,
          PARKS_URL: urls.parks,
        }),
      );
      await waitForOk(
        `http://127.0.0.1:${gatewayPort}/health/ready`,
        90_000,
      ).catch((error: Error) => {
        throw new Error(
          `${error.message}\n${processes.map((p) => p.output()).join('\n')}`,
        );
      });
      const second = `http://127.0.0.1:${gatewayPort}/graphql`;
      const readOnSecond = async () => {
        const response = await graphql<{
          realmConfig: {
            version: number;
            overrides: Record<string, { default?: unknown }>;
          };
        }>(second, REALM_CONFIG, {
          realm: 'sports',
          token: await token('sports', 'sam-admin', 'realm-admin'),
        });
        expect(response.errors, JSON.stringify(response)).toBeUndefined();
        return response.data?.realmConfig;
      };
      expect((await readOnSecond())?.version).toBe(currentVersion());

      const changed = await as<{ updateRealmConfig: ChangeAnswer }>(
        sportsAdmin,
        UPDATE_REALM,
        {
          input: {
            overrides: {
              ...currentOverrides(t),
              reducedMotion: { default: true },
            },
          },
        },
      );
      expect(changed.errors, JSON.stringify(changed)).toBeUndefined();
      const published = changed.data?.updateRealmConfig.version.version;

      // Bounded: the bus announces it at once; 100 × 100 ms is generous.
      let seen: Awaited<ReturnType<typeof readOnSecond>> | undefined;
      for (let i = 0; i < 100; i++) {
        seen = await readOnSecond();
        if (seen?.version === published) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(seen?.version).toBe(published);
      expect(seen?.overrides['reducedMotion']).toEqual({ default: true });
      const value = await graphql<Values>(second, VALUES, {
        realm: 'sports',
        token: await token('sports', 'nia', 'user'),
        variables: { keys: ['reducedMotion'] },
      });
      expect(value.data?.myPreferences.values[0]).toMatchObject({
        value: true,
        source: 'REALM_DEFAULT',
      });
    }, 120_000);
  });
});

/** The sports overrides as in schema/realms/sports.json. */
function sportsOverrides(): Record<string, unknown> {
  return {
    theme: { default: 'dark' },
    'notifications.channels': {
      items: { enum: ['email', 'push', 'in-app'] },
      maxItems: 3,
      default: ['push', 'in-app'],
    },
  };
}

/** The sports overrides in force now. */
function currentOverrides(t: TestSystem): Record<string, unknown> {
  const sports = t.system.liveCatalog.documents.realms['sports'];
  return structuredClone(sports?.['overrides'] ?? {}) as Record<
    string,
    unknown
  >;
}

/** The global schema in force at start (schema/global.schema.json). */
function globalSchema(): {
  properties: Record<string, Record<string, unknown>>;
} & Record<string, unknown> {
  // Read through the test system's first version: the files.
  return structuredClone(globalAtStart) as never;
}

let globalAtStart: unknown;
beforeAll(async () => {
  const { readSchemaDocuments } = await import('@realms/platform');
  globalAtStart = (await readSchemaDocuments()).global;
});

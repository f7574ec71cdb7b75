import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preferenceVersion } from '@realms/platform';
import { sportsSubgraph } from '../src/index.js';
import {
  ALERT_CHANNELS,
  GAME_ALERT_EVENTS,
  STATS_UPDATE_FREQUENCIES,
} from '../src/enums.js';
import {
  platformAdmin,
  realmAdmin,
  schemaEnum,
  startHarness,
  user,
  type Harness,
  type OperationResult,
} from '@realms/platform/testing';

const SPORTS_FIELDS = `
  sports {
    gameAlerts { events channels quietHours { start end } }
    favoriteTeams
    statsUpdateFrequency
  }
`;

const ENTITY = `
  query Entity($id: ID!) {
    _entities(representations: [{ __typename: "Preference", id: $id }]) {
      ... on Preference { id ${SPORTS_FIELDS} }
    }
  }
`;

const UPDATE = `
  mutation Update(
    $input: SportsPreferencesInput!
    $expectedVersion: Int
    $id: ID
  ) {
    updateSportsPreferences(
      input: $input
      expectedVersion: $expectedVersion
      id: $id
    ) {
      id
      ${SPORTS_FIELDS}
    }
  }
`;

const DEFAULTS = {
  gameAlerts: {
    events: ['GAME_START', 'FINAL_SCORE'],
    channels: ['PUSH'],
    quietHours: null,
  },
  favoriteTeams: [],
  statsUpdateFrequency: 'EVERY_5_MINUTES',
};

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness(sportsSubgraph);
});
afterAll(() => harness.stop());

function errorCode(result: OperationResult): unknown {
  return result.errors[0]?.extensions?.['code'];
}

/**
 * The violations of a BAD_USER_INPUT result, each as the input field its
 * path starts with, its key, rule and (for a list item) the item index.
 */
function violations(result: OperationResult) {
  const list = result.errors[0]?.extensions?.['violations'] as {
    path: (string | number)[];
    key: string;
    rule: string;
  }[];
  const fields = [
    ['input', 'gameAlerts', 'events'],
    ['input', 'gameAlerts', 'quietHours'],
    ['input', 'favoriteTeams'],
  ];
  return list.map(({ path, key, rule }) => {
    const field = fields.find((f) => f.every((name, i) => path[i] === name));
    const last = path.at(-1);
    return {
      field,
      key,
      rule,
      item: typeof last === 'number' ? last : undefined,
    };
  });
}

async function storedVersion(userId: string): Promise<number> {
  return preferenceVersion(await harness.preferences.read('sports', userId));
}

describe('Preference.sports', () => {
  it('serves the realm defaults for a user with nothing stored', async () => {
    const result = await harness.execute(user('sports', 'dana'), ENTITY, {
      id: 'sports:dana',
    });

    expect(result.errors).toEqual([]);
    expect(result.data?.['_entities']).toEqual([
      { id: 'sports:dana', sports: DEFAULTS },
    ]);
  });

  it('is null for a preference of another realm', async () => {
    const result = await harness.execute(platformAdmin('sports'), ENTITY, {
      id: 'parks:alice',
    });

    expect(result.errors).toEqual([]);
    expect(result.data?.['_entities']).toEqual([
      { id: 'parks:alice', sports: null },
    ]);
  });

  it("refuses another user's preference", async () => {
    const result = await harness.execute(user('sports', 'dana'), ENTITY, {
      id: 'sports:erin',
    });

    expect(errorCode(result)).toBe('FORBIDDEN');
  });
});

describe('updateSportsPreferences', () => {
  it('stores the named keys and serves them as enums', async () => {
    const result = await harness.execute(user('sports', 'alice'), UPDATE, {
      input: {
        gameAlerts: {
          events: ['SCORE_CHANGE', 'INJURY'],
          quietHours: { start: '22:30', end: '07:00' },
        },
        favoriteTeams: ['red-sox', 'celtics'],
        statsUpdateFrequency: 'REALTIME',
      },
    });

    expect(result.errors).toEqual([]);
    expect(result.data?.['updateSportsPreferences']).toEqual({
      id: 'sports:alice',
      sports: {
        gameAlerts: {
          events: ['SCORE_CHANGE', 'INJURY'],
          channels: ['PUSH'],
          quietHours: { start: '22:30', end: '07:00' },
        },
        favoriteTeams: ['red-sox', 'celtics'],
        statsUpdateFrequency: 'REALTIME',
      },
    });
    const stored = await harness.preferences.read('sports', 'alice');
    expect(stored.realmLayer.values).toEqual({
      'sports.alertEvents': ['score-change', 'injury'],
      'sports.alertQuietHours': { start: '22:30', end: '07:00' },
      'sports.favoriteTeams': ['red-sox', 'celtics'],
      'sports.statsUpdateFrequency': 'realtime',
    });
  });

  it('resets a key given as null and keeps omitted ones', async () => {
    const alice = user('sports', 'alice');
    await harness.execute(alice, UPDATE, {
      input: { favoriteTeams: ['bruins'], statsUpdateFrequency: 'HOURLY' },
    });

    const result = await harness.execute(alice, UPDATE, {
      input: { favoriteTeams: null, gameAlerts: { quietHours: null } },
    });

    expect(result.errors).toEqual([]);
    expect(result.data?.['updateSportsPreferences']).toMatchObject({
      sports: {
        gameAlerts: { quietHours: null },
        favoriteTeams: [],
        statsUpdateFrequency: 'HOURLY',
      },
    });
    const stored = await harness.preferences.read('sports', 'alice');
    expect(stored.realmLayer.values).not.toHaveProperty('sports.favoriteTeams');
    expect(stored.realmLayer.values).not.toHaveProperty(
      'sports.alertQuietHours',
    );
  });

  it('resets every alert setting when gameAlerts is null', async () => {
    const frank = user('sports', 'frank');
    await harness.execute(frank, UPDATE, {
      input: {
        gameAlerts: {
          events: ['TRADE'],
          channels: ['SMS', 'EMAIL'],
          quietHours: { start: '23:00', end: '06:00' },
        },
      },
    });

    const result = await harness.execute(frank, UPDATE, {
      input: { gameAlerts: null },
    });

    expect(result.errors).toEqual([]);
    expect(result.data?.['updateSportsPreferences']).toMatchObject({
      sports: DEFAULTS,
    });
  });

  it('refuses invalid input with every violation and stores nothing', async () => {
    const bob = user('sports', 'bob');
    await harness.execute(bob, UPDATE, { input: { favoriteTeams: ['jets'] } });
    const before = await storedVersion('bob');

    const result = await harness.execute(bob, UPDATE, {
      input: {
        favoriteTeams: ['jets', 'New York Giants!'],
        gameAlerts: {
          events: [
            'GAME_START',
            'SCORE_CHANGE',
            'FINAL_SCORE',
            'LINEUP',
            'INJURY',
            'TRADE',
            'GAME_START',
          ],
          quietHours: { start: '24:00', end: '07:00' },
        },
        statsUpdateFrequency: 'OFF',
      },
    });

    expect(errorCode(result)).toBe('BAD_USER_INPUT');
    // Each violation names the input field, the key and the broken rule;
    // the platform may add segments inside the value after the field.
    expect(violations(result)).toEqual([
      {
        field: ['input', 'gameAlerts', 'events'],
        key: 'sports.alertEvents',
        rule: 'maxItems',
        item: undefined,
      },
      {
        field: ['input', 'gameAlerts', 'events'],
        key: 'sports.alertEvents',
        rule: 'uniqueItems',
        item: undefined,
      },
      {
        field: ['input', 'gameAlerts', 'quietHours'],
        key: 'sports.alertQuietHours',
        rule: 'pattern',
        item: undefined,
      },
      {
        field: ['input', 'favoriteTeams'],
        key: 'sports.favoriteTeams',
        rule: 'pattern',
        item: 1,
      },
    ]);
    expect(await storedVersion('bob')).toBe(before);
    expect(
      (await harness.preferences.read('sports', 'bob')).realmLayer.values,
    ).toEqual({ 'sports.favoriteTeams': ['jets'] });
  });

  it('refuses a stale expectedVersion with CONFLICT', async () => {
    const carol = user('sports', 'carol');
    await harness.execute(carol, UPDATE, {
      input: { favoriteTeams: ['lakers'] },
    });
    const current = await storedVersion('carol');

    const stale = await harness.execute(carol, UPDATE, {
      input: { favoriteTeams: ['clippers'] },
      expectedVersion: current - 1,
    });
    const fresh = await harness.execute(carol, UPDATE, {
      input: { favoriteTeams: ['clippers'] },
      expectedVersion: current,
    });

    expect(errorCode(stale)).toBe('CONFLICT');
    expect(fresh.errors).toEqual([]);
    expect(await storedVersion('carol')).toBe(current + 1);
  });

  it("refuses to change another user's preference", async () => {
    const result = await harness.execute(user('sports', 'mallory'), UPDATE, {
      input: { favoriteTeams: ['jets'] },
      id: 'sports:alice',
    });

    expect(errorCode(result)).toBe('FORBIDDEN');
  });

  it('lets a realm admin change a user of the realm', async () => {
    const result = await harness.execute(realmAdmin('sports'), UPDATE, {
      input: { statsUpdateFrequency: 'OFF' },
      id: 'sports:gina',
    });

    expect(result.errors).toEqual([]);
    expect(result.data?.['updateSportsPreferences']).toMatchObject({
      id: 'sports:gina',
      sports: { statsUpdateFrequency: 'OFF' },
    });
  });

  it('refuses a preference of another realm (rule "realm")', async () => {
    const byId = await harness.execute(platformAdmin('sports'), UPDATE, {
      input: { favoriteTeams: ['jets'] },
      id: 'parks:alice',
    });
    const byRequestRealm = await harness.execute(
      user('parks', 'alice'),
      UPDATE,
      {
        input: { favoriteTeams: ['jets'] },
      },
    );

    for (const [result, path] of [
      [byId, ['id']],
      [byRequestRealm, []],
    ] as const) {
      expect(errorCode(result)).toBe('BAD_USER_INPUT');
      expect(result.errors[0]?.extensions?.['violations']).toEqual([
        expect.objectContaining({ path, rule: 'realm' }),
      ]);
    }
    expect(
      (await harness.preferences.read('parks', 'alice')).realmLayer.version,
    ).toBe(0);
  });

  it('publishes a change event for an accepted write', async () => {
    const events = await harness.collectEvents('sports');

    await harness.execute(user('sports', 'hank'), UPDATE, {
      input: { gameAlerts: { channels: ['EMAIL', 'IN_APP'] } },
    });

    expect(events).toEqual([
      expect.objectContaining({
        type: 'preference.changed',
        realm: 'sports',
        userId: 'hank',
        preferenceId: 'sports:hank',
        changedKeys: ['sports.alertChannels'],
        actor: 'hank',
        version: 1,
      }),
    ]);
  });
});

describe('GraphQL enums', () => {
  it.each([
    ['sports.alertEvents', GAME_ALERT_EVENTS],
    ['sports.alertChannels', ALERT_CHANNELS],
    ['sports.statsUpdateFrequency', STATS_UPDATE_FREQUENCIES],
  ] as const)('%s maps to exactly its schema values', (key, map) => {
    const allowed = schemaEnum(harness.preferences, 'sports', key);

    expect(Object.values(map).sort()).toEqual(allowed.sort());
  });
});

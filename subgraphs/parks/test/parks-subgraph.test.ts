import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preferenceVersion } from '@realms/platform';
import { parksSubgraph } from '../src/index.js';
import {
  ACCESSIBILITY_NEEDS,
  CROWD_TOLERANCES,
  DIETARY_RESTRICTIONS,
  DINING_PLANS,
  PARKS,
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

const PARKS_FIELDS = `
  parks {
    trip { homePark partySize travelDates { start end } }
    dining { dietaryRestrictions plan }
    experience { accessibilityNeeds crowdTolerance thrillLevel }
  }
`;

const ENTITY = `
  query Entity($id: ID!) {
    _entities(representations: [{ __typename: "Preference", id: $id }]) {
      ... on Preference { id ${PARKS_FIELDS} }
    }
  }
`;

const UPDATE = `
  mutation Update(
    $input: ParksPreferencesInput!
    $expectedVersion: Int
    $id: ID
  ) {
    updateParksPreferences(
      input: $input
      expectedVersion: $expectedVersion
      id: $id
    ) {
      id
      ${PARKS_FIELDS}
    }
  }
`;

const DEFAULTS = {
  trip: { homePark: 'HARBOR_KINGDOM', partySize: 2, travelDates: null },
  dining: { dietaryRestrictions: [], plan: 'NONE' },
  experience: {
    accessibilityNeeds: [],
    crowdTolerance: 'MEDIUM',
    thrillLevel: 3,
  },
};

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness(parksSubgraph);
});
afterAll(() => harness.stop());

function errorCode(result: OperationResult): unknown {
  return result.errors[0]?.extensions?.['code'];
}

/**
 * The violations of a BAD_USER_INPUT result, each as the input field its
 * path starts with, its key and rule.
 */
function violations(result: OperationResult) {
  const list = result.errors[0]?.extensions?.['violations'] as {
    path: (string | number)[];
    key: string;
    rule: string;
  }[];
  const fields = [
    ['input', 'trip', 'partySize'],
    ['input', 'trip', 'travelDates'],
    ['input', 'experience', 'thrillLevel'],
  ];
  return list.map(({ path, key, rule }) => ({
    field: fields.find((f) => f.every((name, i) => path[i] === name)),
    key,
    rule,
  }));
}

async function storedVersion(userId: string): Promise<number> {
  return preferenceVersion(await harness.preferences.read('parks', userId));
}

describe('Preference.parks', () => {
  it('serves the realm defaults for a user with nothing stored', async () => {
    const result = await harness.execute(user('parks', 'dana'), ENTITY, {
      id: 'parks:dana',
    });

    expect(result.errors).toEqual([]);
    expect(result.data?.['_entities']).toEqual([
      { id: 'parks:dana', parks: DEFAULTS },
    ]);
  });

  it('is null for a preference of another realm', async () => {
    const result = await harness.execute(platformAdmin('parks'), ENTITY, {
      id: 'sports:alice',
    });

    expect(result.errors).toEqual([]);
    expect(result.data?.['_entities']).toEqual([
      { id: 'sports:alice', parks: null },
    ]);
  });
});

describe('updateParksPreferences', () => {
  it('stores each grouped field under its flat key', async () => {
    const result = await harness.execute(user('parks', 'alice'), UPDATE, {
      input: {
        trip: {
          homePark: 'WILD_REEF',
          partySize: 4,
          travelDates: { start: '2026-07-01', end: '2026-07-08' },
        },
        dining: { dietaryRestrictions: ['GLUTEN_FREE', 'NUT_ALLERGY'] },
        experience: { accessibilityNeeds: ['RIDER_SWITCH'], thrillLevel: 5 },
      },
    });

    expect(result.errors).toEqual([]);
    expect(result.data?.['updateParksPreferences']).toEqual({
      id: 'parks:alice',
      parks: {
        trip: {
          homePark: 'WILD_REEF',
          partySize: 4,
          travelDates: { start: '2026-07-01', end: '2026-07-08' },
        },
        dining: {
          dietaryRestrictions: ['GLUTEN_FREE', 'NUT_ALLERGY'],
          plan: 'NONE',
        },
        experience: {
          accessibilityNeeds: ['RIDER_SWITCH'],
          crowdTolerance: 'MEDIUM',
          thrillLevel: 5,
        },
      },
    });
    const stored = await harness.preferences.read('parks', 'alice');
    expect(stored.realmLayer.values).toEqual({
      'parks.homePark': 'wild-reef',
      'parks.partySize': 4,
      'parks.travelDates': { start: '2026-07-01', end: '2026-07-08' },
      'parks.dietaryRestrictions': ['gluten-free', 'nut-allergy'],
      'parks.accessibilityNeeds': ['rider-switch'],
      'parks.thrillLevel': 5,
    });
  });

  it('resets a field given as null, and a whole group given as null', async () => {
    const alice = user('parks', 'alice');
    await harness.execute(alice, UPDATE, {
      input: {
        dining: { plan: 'DELUXE' },
        experience: { crowdTolerance: 'LOW' },
      },
    });

    const result = await harness.execute(alice, UPDATE, {
      input: { trip: { travelDates: null, partySize: null }, experience: null },
    });

    expect(result.errors).toEqual([]);
    expect(result.data?.['updateParksPreferences']).toMatchObject({
      parks: {
        trip: { homePark: 'WILD_REEF', partySize: 2, travelDates: null },
        dining: {
          dietaryRestrictions: ['GLUTEN_FREE', 'NUT_ALLERGY'],
          plan: 'DELUXE',
        },
        experience: DEFAULTS.experience,
      },
    });
    const stored = await harness.preferences.read('parks', 'alice');
    expect(Object.keys(stored.realmLayer.values).sort()).toEqual([
      'parks.dietaryRestrictions',
      'parks.diningPlan',
      'parks.homePark',
    ]);
  });

  it('refuses invalid input with every violation and stores nothing', async () => {
    const bob = user('parks', 'bob');
    await harness.execute(bob, UPDATE, { input: { trip: { partySize: 3 } } });
    const before = await storedVersion('bob');

    const result = await harness.execute(bob, UPDATE, {
      input: {
        trip: {
          homePark: 'FRONTIER_LANDS',
          partySize: 0,
          travelDates: { start: '2026-02-30', end: 'next tuesday' },
        },
        experience: { thrillLevel: 9 },
      },
    });

    expect(errorCode(result)).toBe('BAD_USER_INPUT');
    expect(violations(result)).toEqual([
      {
        field: ['input', 'trip', 'partySize'],
        key: 'parks.partySize',
        rule: 'minimum',
      },
      {
        field: ['input', 'trip', 'travelDates'],
        key: 'parks.travelDates',
        rule: 'format',
      },
      {
        field: ['input', 'trip', 'travelDates'],
        key: 'parks.travelDates',
        rule: 'format',
      },
      {
        field: ['input', 'experience', 'thrillLevel'],
        key: 'parks.thrillLevel',
        rule: 'maximum',
      },
    ]);
    expect(await storedVersion('bob')).toBe(before);
    expect(
      (await harness.preferences.read('parks', 'bob')).realmLayer.values,
    ).toEqual({ 'parks.partySize': 3 });
  });

  it('refuses a stale expectedVersion with CONFLICT', async () => {
    const carol = user('parks', 'carol');
    await harness.execute(carol, UPDATE, { input: { trip: { partySize: 6 } } });
    const current = await storedVersion('carol');

    const stale = await harness.execute(carol, UPDATE, {
      input: { trip: { partySize: 7 } },
      expectedVersion: current - 1,
    });

    expect(errorCode(stale)).toBe('CONFLICT');
    expect(stale.errors[0]?.extensions?.['currentVersion']).toBe(current);
    expect(await storedVersion('carol')).toBe(current);
  });

  it("refuses to change another user's preference", async () => {
    const result = await harness.execute(user('parks', 'mallory'), UPDATE, {
      input: { trip: { partySize: 12 } },
      id: 'parks:alice',
    });

    expect(errorCode(result)).toBe('FORBIDDEN');
  });

  it('lets a realm admin change a user of the realm', async () => {
    const result = await harness.execute(realmAdmin('parks'), UPDATE, {
      input: { dining: { plan: 'QUICK_SERVICE' } },
      id: 'parks:gina',
    });

    expect(result.errors).toEqual([]);
    expect(result.data?.['updateParksPreferences']).toMatchObject({
      id: 'parks:gina',
      parks: { dining: { plan: 'QUICK_SERVICE' } },
    });
  });

  it('refuses a preference of another realm (rule "realm")', async () => {
    const result = await harness.execute(platformAdmin('parks'), UPDATE, {
      input: { trip: { partySize: 2 } },
      id: 'sports:alice',
    });

    expect(errorCode(result)).toBe('BAD_USER_INPUT');
    expect(result.errors[0]?.extensions?.['violations']).toEqual([
      expect.objectContaining({ path: ['id'], rule: 'realm' }),
    ]);
  });

  it('publishes a change event for an accepted write', async () => {
    const events = await harness.collectEvents('parks');

    await harness.execute(user('parks', 'hank'), UPDATE, {
      input: {
        trip: { homePark: 'STARLIGHT_STUDIOS' },
        dining: { plan: 'STANDARD' },
      },
    });

    expect(events).toEqual([
      expect.objectContaining({
        type: 'preference.changed',
        realm: 'parks',
        userId: 'hank',
        preferenceId: 'parks:hank',
        changedKeys: expect.arrayContaining([
          'parks.homePark',
          'parks.diningPlan',
        ]),
        actor: 'hank',
        version: 1,
      }),
    ]);
  });
});

describe('GraphQL enums', () => {
  it.each([
    ['parks.homePark', PARKS],
    ['parks.dietaryRestrictions', DIETARY_RESTRICTIONS],
    ['parks.diningPlan', DINING_PLANS],
    ['parks.accessibilityNeeds', ACCESSIBILITY_NEEDS],
    ['parks.crowdTolerance', CROWD_TOLERANCES],
  ] as const)('%s maps to exactly its schema values', (key, map) => {
    const allowed = schemaEnum(harness.preferences, 'parks', key);

    expect(Object.values(map).sort()).toEqual(allowed.sort());
  });
});

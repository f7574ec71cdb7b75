import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preferenceVersion } from '@realms/platform';
import { entertainmentSubgraph } from '../src/index.js';
import { GENRES, MATURITY_RATING_VALUES } from '../src/enums.js';
import {
  platformAdmin,
  realmAdmin,
  schemaEnum,
  startHarness,
  user,
  type Harness,
  type OperationResult,
} from '@realms/platform/testing';

const ENTERTAINMENT_FIELDS = `
  entertainment {
    genres
    maturityRating
    languages
    autoplay
    recommendations(limit: $limit) {
      id title genres maturityRating year reason
    }
  }
`;

const ENTITY = `
  query Entity($id: ID!, $limit: Int = 10) {
    _entities(representations: [{ __typename: "Preference", id: $id }]) {
      ... on Preference { id ${ENTERTAINMENT_FIELDS} }
    }
  }
`;

const UPDATE = `
  mutation Update(
    $input: EntertainmentPreferencesInput!
    $expectedVersion: Int
    $id: ID
    $limit: Int = 10
  ) {
    updateEntertainmentPreferences(
      input: $input
      expectedVersion: $expectedVersion
      id: $id
    ) {
      id
      ${ENTERTAINMENT_FIELDS}
    }
  }
`;

interface Recommended {
  id: string;
  maturityRating: string;
  genres: string[];
  reason: string;
}

interface EntertainmentResult {
  genres: string[];
  maturityRating: string;
  languages: string[];
  autoplay: boolean;
  recommendations: Recommended[];
}

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness(entertainmentSubgraph);
});
afterAll(() => harness.stop());

function errorCode(result: OperationResult): unknown {
  return result.errors[0]?.extensions?.['code'];
}

/** The `entertainment` field of an update's result. */
function updated(result: OperationResult): EntertainmentResult {
  expect(result.errors).toEqual([]);
  const preference = result.data?.['updateEntertainmentPreferences'] as {
    entertainment: EntertainmentResult;
  };
  return preference.entertainment;
}

async function storedVersion(userId: string): Promise<number> {
  return preferenceVersion(
    await harness.preferences.read('entertainment', userId),
  );
}

describe('Preference.entertainment', () => {
  it('serves the realm defaults and recommends from them', async () => {
    const result = await harness.execute(
      user('entertainment', 'dana'),
      ENTITY,
      { id: 'entertainment:dana', limit: 5 },
    );

    expect(result.errors).toEqual([]);
    const [preference] = result.data?.['_entities'] as {
      entertainment: EntertainmentResult;
    }[];
    const { recommendations, ...values } = preference?.entertainment ?? {};
    expect(values).toEqual({
      genres: ['FAMILY', 'ANIMATION'],
      maturityRating: 'PG',
      languages: ['en'],
      autoplay: true,
    });
    // Both genres shared, newest first; then one genre shared.
    expect(recommendations?.map((r) => r.id)).toEqual([
      'tiny-dragon-big-city',
      'pebble-and-the-giant',
      'lighthouse-keepers-cat',
      'paper-moon-parade',
      'rocket-grandma',
    ]);
    expect(recommendations?.[0]).toEqual({
      id: 'tiny-dragon-big-city',
      title: 'Tiny Dragon, Big City',
      genres: ['ANIMATION', 'COMEDY', 'FANTASY', 'FAMILY'],
      maturityRating: 'G',
      year: 2025,
      reason: 'Matches your genres: animation, family.',
    });
  });

  it('is null for a preference of another realm', async () => {
    const result = await harness.execute(
      platformAdmin('entertainment'),
      ENTITY,
      { id: 'parks:alice' },
    );

    expect(result.errors).toEqual([]);
    expect(result.data?.['_entities']).toEqual([
      { id: 'parks:alice', entertainment: null },
    ]);
  });

  it.each([0, 51])('refuses recommendations(limit: %i)', async (limit) => {
    const result = await harness.execute(
      user('entertainment', 'dana'),
      ENTITY,
      { id: 'entertainment:dana', limit },
    );

    expect(errorCode(result)).toBe('BAD_USER_INPUT');
    expect(result.errors[0]?.extensions?.['violations']).toEqual([
      expect.objectContaining({ path: ['limit'], rule: 'range' }),
    ]);
  });
});

describe('updateEntertainmentPreferences', () => {
  it('stores the named keys and serves them as enums', async () => {
    const result = await harness.execute(
      user('entertainment', 'alice'),
      UPDATE,
      {
        input: {
          genres: ['SCI_FI', 'COMEDY'],
          maturityRating: 'PG_13',
          languages: ['en-GB', 'fr'],
          autoplay: false,
        },
      },
    );

    expect(updated(result)).toMatchObject({
      genres: ['SCI_FI', 'COMEDY'],
      maturityRating: 'PG_13',
      languages: ['en-GB', 'fr'],
      autoplay: false,
    });
    const stored = await harness.preferences.read('entertainment', 'alice');
    expect(stored.realmLayer.values).toEqual({
      'entertainment.genres': ['sci-fi', 'comedy'],
      'entertainment.maturityRating': 'PG-13',
      'entertainment.languages': ['en-GB', 'fr'],
      'entertainment.autoplay': false,
    });
  });

  it('resets a key given as null and keeps omitted ones', async () => {
    const alice = user('entertainment', 'alice');

    const result = await harness.execute(alice, UPDATE, {
      input: { autoplay: null, languages: null },
    });

    expect(updated(result)).toMatchObject({
      genres: ['SCI_FI', 'COMEDY'],
      languages: ['en'],
      autoplay: true,
    });
    const stored = await harness.preferences.read('entertainment', 'alice');
    expect(Object.keys(stored.realmLayer.values).sort()).toEqual([
      'entertainment.genres',
      'entertainment.maturityRating',
    ]);
  });

  it('recommends again when genres and maturity rating change', async () => {
    const erin = user('entertainment', 'erin');

    const scary = updated(
      await harness.execute(erin, UPDATE, {
        input: { genres: ['HORROR', 'THRILLER'], maturityRating: 'R' },
        limit: 3,
      }),
    );
    const capped = updated(
      await harness.execute(erin, UPDATE, {
        input: { maturityRating: 'PG_13' },
        limit: 3,
      }),
    );

    expect(scary.recommendations.map((r) => r.id)).toEqual([
      'the-hollow-house',
      'the-whispering-archive',
      'cold-signal',
    ]);
    expect(capped.recommendations.map((r) => r.id)).toEqual([
      'the-whispering-archive',
      'neon-relay',
      'glass-harbor',
    ]);
    expect(capped.recommendations.map((r) => r.maturityRating)).not.toContain(
      'R',
    );
  });

  it('never recommends above the maturity rating', async () => {
    const kid = user('entertainment', 'kid');

    const result = updated(
      await harness.execute(kid, UPDATE, {
        input: { maturityRating: 'G', genres: ['HORROR'] },
        limit: 50,
      }),
    );

    expect(result.recommendations.length).toBeGreaterThan(0);
    expect(
      new Set(result.recommendations.map((r) => r.maturityRating)),
    ).toEqual(new Set(['G']));
    expect(result.recommendations[0]?.reason).toBe(
      'Available in your language (en).',
    );
  });

  it('recommends only titles in the languages, by primary subtag', async () => {
    const result = updated(
      await harness.execute(user('entertainment', 'yuki'), UPDATE, {
        input: { languages: ['ja-JP'], maturityRating: 'PG' },
        limit: 50,
      }),
    );

    expect(result.recommendations.map((r) => r.id)).toEqual([
      'tiny-dragon-big-city',
      'pebble-and-the-giant',
      'clockwork-kingdom',
    ]);
  });

  it('refuses invalid input with every violation and stores nothing', async () => {
    const bob = user('entertainment', 'bob');
    await harness.execute(bob, UPDATE, { input: { autoplay: false } });
    const before = await storedVersion('bob');

    const result = await harness.execute(bob, UPDATE, {
      input: {
        languages: [],
        genres: [
          'ACTION',
          'ANIMATION',
          'COMEDY',
          'DOCUMENTARY',
          'DRAMA',
          'FAMILY',
          'FANTASY',
          'HORROR',
          'MUSICAL',
        ],
        maturityRating: 'R',
      },
    });

    expect(errorCode(result)).toBe('BAD_USER_INPUT');
    const violations = result.errors[0]?.extensions?.['violations'] as {
      path: (string | number)[];
      key: string;
      rule: string;
    }[];
    expect(
      violations.map((v) => ({
        field: v.path.slice(0, 2),
        key: v.key,
        rule: v.rule,
      })),
    ).toEqual([
      {
        field: ['input', 'genres'],
        key: 'entertainment.genres',
        rule: 'maxItems',
      },
      {
        field: ['input', 'languages'],
        key: 'entertainment.languages',
        rule: 'minItems',
      },
    ]);
    expect(await storedVersion('bob')).toBe(before);
    expect(
      (await harness.preferences.read('entertainment', 'bob')).realmLayer
        .values,
    ).toEqual({ 'entertainment.autoplay': false });
  });

  it('refuses a language that is not a BCP 47 tag', async () => {
    const result = await harness.execute(user('entertainment', 'bob'), UPDATE, {
      input: { languages: ['en', 'not a language'] },
    });

    expect(errorCode(result)).toBe('BAD_USER_INPUT');
    expect(result.errors[0]?.extensions?.['violations']).toEqual([
      expect.objectContaining({
        key: 'entertainment.languages',
        rule: 'format',
      }),
    ]);
  });

  it('refuses a stale expectedVersion with CONFLICT', async () => {
    const carol = user('entertainment', 'carol');
    await harness.execute(carol, UPDATE, { input: { autoplay: false } });
    const current = await storedVersion('carol');

    const stale = await harness.execute(carol, UPDATE, {
      input: { autoplay: true },
      expectedVersion: current - 1,
    });

    expect(errorCode(stale)).toBe('CONFLICT');
    expect(await storedVersion('carol')).toBe(current);
  });

  it("refuses to change another user's preference", async () => {
    const result = await harness.execute(
      user('entertainment', 'mallory'),
      UPDATE,
      { input: { maturityRating: 'R' }, id: 'entertainment:kid' },
    );

    expect(errorCode(result)).toBe('FORBIDDEN');
  });

  it('lets a realm admin change a user of the realm', async () => {
    const result = await harness.execute(realmAdmin('entertainment'), UPDATE, {
      input: { autoplay: false },
      id: 'entertainment:gina',
    });

    expect(updated(result)).toMatchObject({ autoplay: false });
  });

  it('refuses a preference of another realm (rule "realm")', async () => {
    const result = await harness.execute(user('sports', 'alice'), UPDATE, {
      input: { autoplay: false },
    });

    expect(errorCode(result)).toBe('BAD_USER_INPUT');
    expect(result.errors[0]?.extensions?.['violations']).toEqual([
      expect.objectContaining({ path: [], rule: 'realm' }),
    ]);
  });

  it('publishes a change event for an accepted write', async () => {
    const events = await harness.collectEvents('entertainment');

    await harness.execute(user('entertainment', 'hank'), UPDATE, {
      input: { genres: ['MUSICAL'] },
    });

    expect(events).toEqual([
      expect.objectContaining({
        type: 'preference.changed',
        realm: 'entertainment',
        userId: 'hank',
        preferenceId: 'entertainment:hank',
        changedKeys: ['entertainment.genres'],
        actor: 'hank',
        version: 1,
      }),
    ]);
  });
});

describe('GraphQL enums', () => {
  it.each([
    ['entertainment.genres', GENRES],
    ['entertainment.maturityRating', MATURITY_RATING_VALUES],
  ] as const)('%s maps to exactly its schema values', (key, map) => {
    const allowed = schemaEnum(harness.preferences, 'entertainment', key);

    expect(Object.values(map).sort()).toEqual(allowed.sort());
  });
});

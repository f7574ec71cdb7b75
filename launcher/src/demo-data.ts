import type { KeyChange, PreferenceService } from '@realms/platform';

/** A demo user's values, by realm and writer (null: core; realm: division). */
interface DemoWrite {
  readonly realm: string;
  readonly userId: string;
  readonly writer: string | null;
  readonly values: Record<string, unknown>;
}

/** Demo users: alice follows sports, bob plans a park trip, carol watches. */
export const DEMO_WRITES: readonly DemoWrite[] = [
  {
    realm: 'sports',
    userId: 'alice',
    writer: null,
    values: { locale: 'en-GB', timeZone: 'Europe/London' },
  },
  {
    realm: 'sports',
    userId: 'alice',
    writer: 'sports',
    values: {
      'sports.favoriteTeams': ['harbor-hawks', 'city-comets'],
      'sports.alertEvents': ['game-start', 'score-change', 'final-score'],
    },
  },
  { realm: 'parks', userId: 'bob', writer: null, values: { theme: 'light' } },
  {
    realm: 'parks',
    userId: 'bob',
    writer: 'parks',
    values: {
      'parks.partySize': 4,
      'parks.travelDates': { start: '2027-04-10', end: '2027-04-15' },
      'parks.dietaryRestrictions': ['vegetarian'],
    },
  },
  {
    realm: 'entertainment',
    userId: 'carol',
    writer: 'entertainment',
    values: {
      'entertainment.genres': ['sci-fi', 'thriller'],
      'entertainment.maturityRating': 'PG-13',
    },
  },
];

/**
 * Stores the demo values. Idempotent: values already stored are no-ops,
 * so a restart against Redis changes nothing.
 */
export async function seedDemoData(
  preferences: PreferenceService,
): Promise<void> {
  for (const write of DEMO_WRITES) {
    const changes: KeyChange[] = Object.entries(write.values).map(
      ([key, value], i) => ({
        key,
        value,
        scope: null,
        path: ['seed', i],
      }),
    );
    await preferences.write({
      realm: write.realm,
      userId: write.userId,
      changes,
      expectedVersion: null,
      writer: write.writer,
      // The demo users' own values, as if they had set them.
      globalLayerWritable: true,
      actor: 'seed',
      requestId: 'seed',
    });
  }
}

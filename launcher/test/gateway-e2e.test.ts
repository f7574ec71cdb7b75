import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  graphql,
  startTestSystem,
  type Backend,
  type TestSystem,
} from './support/test-system.js';

const ALL_SUBGRAPHS = /* GraphQL */ `
  query AllFour {
    myPreferences {
      id
      userId
      version
      realm {
        id
        name
        theme {
          colors {
            primary
          }
        }
      }
      values(keys: ["locale", "theme", "sports.favoriteTeams"]) {
        key
        value
        source
        definition {
          scope
          owner
          locked
        }
      }
      sports {
        favoriteTeams
        statsUpdateFrequency
        gameAlerts {
          events
          channels
        }
      }
      entertainment {
        autoplay
      }
      parks {
        trip {
          partySize
        }
      }
    }
  }
`;

const SET = /* GraphQL */ `
  mutation Set(
    $values: [PreferenceValueInput!]!
    $expectedVersion: Int
    $id: ID
  ) {
    setPreferences(
      values: $values
      expectedVersion: $expectedVersion
      id: $id
    ) {
      id
      version
      values(keys: ["locale", "theme"]) {
        key
        value
        source
      }
    }
  }
`;

const VERSION = '{ myPreferences { version } }';

describe.each<Backend>(['memory', 'redis'])(
  'the gateway over %s state',
  (backend) => {
    let t: TestSystem;
    let alice: string;

    beforeAll(async () => {
      t = await startTestSystem(backend);
      alice = await t.token('sports', 'alice');
    });
    afterAll(() => t.stop());

    it('answers one query from all four subgraphs', async () => {
      const response = await graphql<{
        myPreferences: Record<string, unknown>;
      }>(t.url, ALL_SUBGRAPHS, {
        realm: 'sports',
        token: alice,
      });
      expect(response.errors).toBeUndefined();
      expect(response.data?.myPreferences).toMatchObject({
        id: 'sports:alice',
        userId: 'alice',
        version: 0,
        realm: {
          id: 'sports',
          name: 'Sports',
          theme: { colors: { primary: '#0B6E4F' } },
        },
        values: [
          {
            key: 'locale',
            value: 'en-US',
            source: 'GLOBAL_DEFAULT',
            definition: { scope: 'GLOBAL' },
          },
          { key: 'theme', value: 'dark', source: 'REALM_DEFAULT' },
          {
            key: 'sports.favoriteTeams',
            value: [],
            source: 'REALM_DEFAULT',
            definition: { scope: 'REALM', owner: 'sports' },
          },
        ],
        sports: { favoriteTeams: [], statsUpdateFrequency: 'EVERY_5_MINUTES' },
        entertainment: null,
        parks: null,
      });
    });

    it('stores a valid write and reports where each value came from', async () => {
      const response = await graphql<{
        setPreferences: { version: number; values: unknown[] };
      }>(t.url, SET, {
        realm: 'sports',
        token: alice,
        variables: {
          values: [
            { key: 'locale', value: 'fr-FR' },
            { key: 'theme', value: 'light', scope: 'REALM' },
          ],
        },
      });
      expect(response.errors).toBeUndefined();
      expect(response.data?.setPreferences.values).toEqual([
        { key: 'locale', value: 'fr-FR', source: 'USER_GLOBAL' },
        { key: 'theme', value: 'light', source: 'USER_REALM' },
      ]);

      // The global value follows alice into parks; the realm value does not.
      const parksToken = await t.token('parks', 'alice');
      const parks = await graphql<{ myPreferences: { values: unknown[] } }>(
        t.url,
        '{ myPreferences { values(keys: ["locale", "theme"]) { key value source } } }',
        { realm: 'parks', token: parksToken },
      );
      expect(parks.data?.myPreferences.values).toEqual([
        { key: 'locale', value: 'fr-FR', source: 'USER_GLOBAL' },
        { key: 'theme', value: 'system', source: 'GLOBAL_DEFAULT' },
      ]);
    });

    it('writes division fields through the division mutation', async () => {
      const response = await graphql<{
        updateSportsPreferences: Record<string, unknown>;
      }>(
        t.url,
        /* GraphQL */ `
          mutation {
            updateSportsPreferences(
              input: {
                favoriteTeams: ["harbor-hawks"]
                gameAlerts: { events: [FINAL_SCORE] }
              }
            ) {
              id
              version
              sports {
                favoriteTeams
                gameAlerts {
                  events
                }
              }
              values(keys: ["sports.favoriteTeams"]) {
                source
              }
            }
          }
        `,
        { realm: 'sports', token: alice },
      );
      expect(response.errors).toBeUndefined();
      expect(response.data?.updateSportsPreferences).toMatchObject({
        id: 'sports:alice',
        sports: {
          favoriteTeams: ['harbor-hawks'],
          gameAlerts: { events: ['FINAL_SCORE'] },
        },
        values: [{ source: 'USER_REALM' }],
      });
    });

    it('answers each concurrent write with the version that write produced', async () => {
      const token = await t.token('sports', 'racer');
      const writes = Array.from({ length: 12 }, (_, i) =>
        graphql<{
          updateSportsPreferences: {
            version: number;
            sports: { favoriteTeams: string[] };
          };
        }>(
          t.url,
          'mutation ($teams: [String!]) { updateSportsPreferences(input: { favoriteTeams: $teams }) { version sports { favoriteTeams } } }',
          { realm: 'sports', token, variables: { teams: [`team-${i}`] } },
        ),
      );
      const answers = (await Promise.all(writes)).map(
        (r) => r.data?.updateSportsPreferences,
      );
      const versions = answers
        .map((a) => a?.version)
        .sort((a, b) => (a ?? 0) - (b ?? 0));
      expect(versions).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      answers.forEach((answer, i) =>
        expect(answer?.sports.favoriteTeams).toEqual([`team-${i}`]),
      );
    });

    it('refuses an invalid write with every violation and stores nothing', async () => {
      const before = await graphql<{ myPreferences: { version: number } }>(
        t.url,
        VERSION,
        { realm: 'sports', token: alice },
      );
      const response = await graphql(t.url, SET, {
        realm: 'sports',
        token: alice,
        variables: {
          values: [
            { key: 'timeZone', value: 'Mars/Olympus_Mons' },
            { key: 'locale', value: 'de-DE' },
            { key: 'notifications.channels', value: ['sms', 'email', 'email'] },
            { key: 'displayName', value: 'x'.repeat(65) },
            { key: 'sports.favoriteTeams', value: ['a'] },
            { key: 'marketingEmails', value: 'yes' },
          ],
        },
      });
      expect(response.data).toBeNull();
      expect(response.errors).toHaveLength(1);
      const error = response.errors?.[0];
      expect(error?.path).toEqual(['setPreferences']);
      expect(error?.extensions?.['code']).toBe('BAD_USER_INPUT');
      const violations = error?.extensions?.['violations'] as {
        key: string;
        rule: string;
        path: unknown[];
      }[];
      expect(violations.map((v) => `${v.key}:${v.rule}`)).toEqual([
        'timeZone:format',
        'notifications.channels:enum',
        'notifications.channels:uniqueItems',
        'displayName:maxLength',
        'sports.favoriteTeams:owner',
        'marketingEmails:type',
      ]);
      expect(violations[0]?.path).toEqual(['values', 0, 'value']);
      expect(violations[1]?.path).toEqual(['values', 2, 'value', 0]);

      const after = await graphql<{ myPreferences: { version: number } }>(
        t.url,
        VERSION,
        { realm: 'sports', token: alice },
      );
      expect(after.data?.myPreferences.version).toBe(
        before.data?.myPreferences.version,
      );
      const locale = await graphql<{
        myPreferences: { values: { value: unknown }[] };
      }>(t.url, '{ myPreferences { values(keys: ["locale"]) { value } } }', {
        realm: 'sports',
        token: alice,
      });
      expect(locale.data?.myPreferences.values[0]?.value).toBe('fr-FR');
    });

    it('returns CONFLICT for a stale expectedVersion and stores nothing', async () => {
      const current = await graphql<{ myPreferences: { version: number } }>(
        t.url,
        VERSION,
        { realm: 'sports', token: alice },
      );
      const version = current.data?.myPreferences.version ?? -1;
      const response = await graphql(t.url, SET, {
        realm: 'sports',
        token: alice,
        variables: {
          values: [{ key: 'locale', value: 'it-IT' }],
          expectedVersion: version - 1,
        },
      });
      expect(response.errors?.[0]?.extensions).toMatchObject({
        code: 'CONFLICT',
        currentVersion: version,
        expectedVersion: version - 1,
      });
      const after = await graphql<{ myPreferences: { version: number } }>(
        t.url,
        VERSION,
        { realm: 'sports', token: alice },
      );
      expect(after.data?.myPreferences.version).toBe(version);

      const accepted = await graphql<{ setPreferences: { version: number } }>(
        t.url,
        SET,
        {
          realm: 'sports',
          token: alice,
          variables: {
            values: [{ key: 'locale', value: 'it-IT' }],
            expectedVersion: version,
          },
        },
      );
      expect(accepted.data?.setPreferences.version).toBe(version + 1);
    });

    it("refuses a token of another realm, and another user's preference", async () => {
      const crossRealm = await graphql(t.url, VERSION, {
        realm: 'parks',
        token: alice,
      });
      expect(crossRealm.status).toBe(401);
      expect(crossRealm.errors?.[0]?.extensions?.['code']).toBe(
        'UNAUTHENTICATED',
      );

      const other = await graphql(
        t.url,
        '{ preference(id: "sports:bob") { version } }',
        {
          realm: 'sports',
          token: alice,
        },
      );
      expect(other.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');

      const write = await graphql(t.url, SET, {
        realm: 'sports',
        token: alice,
        variables: {
          values: [{ key: 'locale', value: 'de-DE' }],
          id: 'parks:alice',
        },
      });
      expect(write.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    });

    it('lets a realm admin read users of its realm only', async () => {
      const admin = await t.token('sports', 'sam', ['realm-admin']);
      const inRealm = await graphql<{ preference: { id: string } }>(
        t.url,
        '{ preference(id: "sports:alice") { id values(keys: ["locale"]) { value } } }',
        { realm: 'sports', token: admin },
      );
      expect(inRealm.errors).toBeUndefined();
      expect(inRealm.data?.preference.id).toBe('sports:alice');
      const elsewhere = await graphql(
        t.url,
        '{ preference(id: "parks:alice") { id } }',
        {
          realm: 'sports',
          token: admin,
        },
      );
      expect(elsewhere.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    });

    it('needs a token for preference data', async () => {
      const response = await graphql(t.url, VERSION, { realm: 'sports' });
      expect(response.errors?.[0]?.extensions?.['code']).toBe(
        'UNAUTHENTICATED',
      );
      const bad = await graphql(t.url, VERSION, {
        realm: 'sports',
        token: 'not-a-token',
      });
      expect(bad.status).toBe(401);
    });
  },
);

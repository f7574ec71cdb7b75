import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  platformAdmin,
  realmAdmin,
  startHarness,
  user,
  type Harness,
} from '@realms/platform/testing';
import { coreSubgraph } from '../src/index.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness(coreSubgraph);
});
afterAll(() => harness.stop());

const alice = user('sports', 'alice');

const SET = /* GraphQL */ `
  mutation ($values: [PreferenceValueInput!]!, $expectedVersion: Int, $id: ID) {
    setPreferences(
      values: $values
      expectedVersion: $expectedVersion
      id: $id
    ) {
      id
      version
      updatedAt
      values(keys: ["locale", "displayName", "notifications.quietHours"]) {
        key
        value
        source
      }
    }
  }
`;

describe('the core subgraph', () => {
  it('shows the global view and a realm view of the definitions', async () => {
    const result = await harness.execute(
      null,
      `{
        globalDefinitions { key scope default defaultSource locked required type }
        realmDefinitions(realm: "entertainment") { key scope owner default defaultSource locked rules }
      }`,
    );
    expect(result.errors).toEqual([]);
    const global = result.data?.['globalDefinitions'] as Record<
      string,
      unknown
    >[];
    expect(global.find((d) => d['key'] === 'notifications.digest')).toEqual({
      key: 'notifications.digest',
      scope: 'GLOBAL',
      default: 'daily',
      defaultSource: 'GLOBAL_DEFAULT',
      locked: false,
      required: true,
      type: 'string',
    });
    const realm = result.data?.['realmDefinitions'] as Record<
      string,
      unknown
    >[];
    expect(
      realm.find((d) => d['key'] === 'notifications.digest'),
    ).toMatchObject({
      default: 'weekly',
      defaultSource: 'REALM_DEFAULT',
      locked: true,
      rules: expect.objectContaining({ enum: ['off', 'weekly'] }),
    });
    expect(
      realm.find((d) => d['key'] === 'entertainment.genres'),
    ).toMatchObject({
      scope: 'REALM',
      owner: 'entertainment',
    });
  });

  it('describes realms with their effective theme', async () => {
    const result = await harness.execute(
      alice,
      '{ currentRealm { id domains theme { colors { primary text } typography { baseSizePx } } } realms { id } }',
    );
    expect(result.data?.['currentRealm']).toEqual({
      id: 'sports',
      domains: ['sports.localhost', 'sports.realms.test'],
      theme: {
        colors: { primary: '#0B6E4F', text: '#F5F7FA' },
        typography: { baseSizePx: 16 },
      },
    });
    expect((result.data?.['realms'] as unknown[]).length).toBe(3);
  });

  it('stores values and reports version, time and sources', async () => {
    const result = await harness.execute(alice, SET, {
      values: [
        { key: 'displayName', value: 'Alice' },
        {
          key: 'notifications.quietHours',
          value: { start: '22:00', end: '07:00' },
        },
      ],
    });
    expect(result.errors).toEqual([]);
    const preference = result.data?.['setPreferences'] as Record<
      string,
      unknown
    >;
    expect(preference['version']).toBe(1);
    expect(typeof preference['updatedAt']).toBe('string');
    expect(preference['values']).toEqual([
      { key: 'locale', value: 'en-US', source: 'GLOBAL_DEFAULT' },
      { key: 'displayName', value: 'Alice', source: 'USER_GLOBAL' },
      {
        key: 'notifications.quietHours',
        value: { start: '22:00', end: '07:00' },
        source: 'USER_GLOBAL',
      },
    ]);
  });

  it('treats __proto__ and constructor keys in JSON values as data and refuses them', async () => {
    const result = await harness.execute(
      alice,
      `mutation {
        setPreferences(values: [{ key: "notifications.quietHours",
          value: { start: "22:00", end: "07:00", __proto__: { admin: true }, constructor: "x" } }]) { version }
      }`,
    );
    expect(result.errors[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    const rules = (
      result.errors[0]?.extensions?.['violations'] as { rule: string }[]
    ).map((v) => v.rule);
    expect(rules).toContain('additionalProperties');
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
  });

  it('resets a key to its inherited value', async () => {
    const bob = user('sports', 'bob');
    await harness.execute(bob, SET, {
      values: [{ key: 'locale', value: 'fr-FR' }],
    });
    const result = await harness.execute(
      bob,
      'mutation { resetPreferences(keys: ["locale"]) { version values(keys: ["locale"]) { value source } } }',
    );
    expect(result.data?.['resetPreferences']).toEqual({
      version: 2,
      values: [{ value: 'en-US', source: 'GLOBAL_DEFAULT' }],
    });
  });

  it('refuses unknown keys in a reset without storing anything', async () => {
    const result = await harness.execute(
      alice,
      'mutation { resetPreferences(keys: ["locale", "parks.partySize"]) { version } }',
    );
    const violations = result.errors[0]?.extensions?.['violations'] as {
      key: string;
      rule: string;
      path: unknown[];
    }[];
    expect(violations).toEqual([
      expect.objectContaining({
        key: 'parks.partySize',
        rule: 'unknownKey',
        path: ['keys', 1],
      }),
    ]);
  });

  it('lets admins target other preferences within their reach only', async () => {
    const sportsAdmin = realmAdmin('sports');
    const write = await harness.execute(sportsAdmin, SET, {
      id: 'sports:carol',
      values: [{ key: 'locale', value: 'de-DE' }],
    });
    expect(write.errors).toEqual([]);
    const denied = await harness.execute(sportsAdmin, SET, {
      id: 'parks:carol',
      values: [{ key: 'locale', value: 'de-DE' }],
    });
    expect(denied.errors[0]?.extensions?.['code']).toBe('FORBIDDEN');
    const root = await harness.execute(
      platformAdmin('sports'),
      '{ preference(id: "parks:carol") { id realm { id } } }',
    );
    expect(root.data?.['preference']).toEqual({
      id: 'parks:carol',
      realm: { id: 'parks' },
    });
    const missing = await harness.execute(
      platformAdmin('sports'),
      '{ preference(id: "casino:carol") { id } }',
    );
    expect(missing.errors[0]?.extensions?.['code']).toBe('NOT_FOUND');
    const hidden = await harness.execute(
      sportsAdmin,
      '{ preference(id: "casino:carol") { id } }',
    );
    expect(hidden.errors[0]?.extensions?.['code']).toBe('FORBIDDEN');
  });

  it('checks access again when the gateway resolves an entity reference', async () => {
    const query = `query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Preference { id version } } }`;
    const own = await harness.execute(alice, query, {
      reps: [{ __typename: 'Preference', id: 'sports:alice' }],
    });
    expect(own.errors).toEqual([]);
    const other = await harness.execute(alice, query, {
      reps: [{ __typename: 'Preference', id: 'sports:bob' }],
    });
    expect(other.errors[0]?.extensions?.['code']).toBe('FORBIDDEN');
  });

  it('needs an identity for preference data', async () => {
    const result = await harness.execute(null, '{ myPreferences { id } }');
    expect(result.errors[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
  });
});

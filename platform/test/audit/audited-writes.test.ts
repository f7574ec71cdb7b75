import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentitySigner } from '../../src/identity/forwarded-identity.js';
import { divisionResolvers } from '../../src/subgraph/division-kit.js';
import type { SubgraphDefinition } from '../../src/subgraph/subgraph-server.js';
import {
  platformAdmin,
  startHarness,
  user,
  type Harness,
} from '../../src/testing/subgraph-harness.js';

/*
 * The write path of a subgraph as the audit log sees it, through a small
 * division built with the division kit: refusals before the preference
 * service (access, the division's own realm check) are recorded by the
 * subgraph server, those of the service by the service, each once.
 */

const division = divisionResolvers({
  realmId: 'sports',
  mutationName: 'updateSportsPreferences',
  fields: [{ path: ['favoriteTeams'], key: 'sports.favoriteTeams' }],
});

const toyDivision: SubgraphDefinition = {
  name: 'sports',
  typeDefs: parse(/* GraphQL */ `
    extend schema
      @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

    type SportsView {
      favoriteTeams: [String!]!
    }
    type Preference @key(fields: "id") {
      id: ID!
      sports: SportsView
    }
    input SportsInput {
      favoriteTeams: [String!]
    }
    type Query {
      ping: Boolean
    }
    type Mutation {
      updateSportsPreferences(
        input: SportsInput!
        expectedVersion: Int
        id: ID
      ): Preference!
    }
  `),
  resolvers: {
    ...division,
    SportsView: {
      favoriteTeams: (view: { value(name: string): unknown }) =>
        view.value('favoriteTeams'),
    },
  },
};

const UPDATE = /* GraphQL */ `
  mutation ($input: SportsInput!, $id: ID) {
    updateSportsPreferences(input: $input, id: $id) {
      id
    }
  }
`;

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness(toyDivision);
});
afterAll(() => harness.stop());

async function audit(realm: string) {
  return (await harness.preferences.readAudit({ realm, limit: 50 })).entries;
}

describe('audited subgraph writes', () => {
  it('records an accepted division write with the caller and the change', async () => {
    const result = await harness.execute(user('sports', 'alice'), UPDATE, {
      input: { favoriteTeams: ['lions'] },
    });
    expect(result.errors).toEqual([]);
    const [entry] = await audit('sports');
    expect(entry).toMatchObject({
      realm: 'sports',
      actor: 'alice',
      actorRoles: ['user'],
      target: 'sports:alice',
      outcome: 'ACCEPTED',
      changes: [
        {
          key: 'sports.favoriteTeams',
          layer: 'REALM',
          before: null,
          after: ['lions'],
        },
      ],
      clientAddress: null,
      errorCode: null,
    });
    expect(entry?.requestId).toEqual(expect.any(String));
  });

  it("records a forbidden write in the request's realm, naming only the target", async () => {
    const before = await audit('parks');
    const result = await harness.execute(user('sports', 'mallory'), UPDATE, {
      id: 'parks:bob',
      input: { favoriteTeams: ['x'] },
    });
    expect(result.errors[0]?.extensions?.['code']).toBe('FORBIDDEN');

    expect((await audit('sports'))[0]).toMatchObject({
      realm: 'sports',
      actor: 'mallory',
      actorRoles: ['user'],
      target: 'parks:bob',
      outcome: 'FORBIDDEN',
      changes: [],
      errorCode: 'FORBIDDEN',
    });
    expect(await audit('parks')).toEqual(before);
  });

  it("records a division's own refusal once, in the target's realm", async () => {
    const result = await harness.execute(platformAdmin('sports'), UPDATE, {
      id: 'parks:carol',
      input: { favoriteTeams: ['x'] },
    });
    expect(result.errors[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    const parks = await audit('parks');
    expect(parks.filter((e) => e.target === 'parks:carol')).toEqual([
      expect.objectContaining({
        actor: 'root',
        actorRoles: ['platform-admin'],
        outcome: 'INVALID',
        errorCode: 'BAD_USER_INPUT',
      }),
    ]);
  });

  it('records an invalid value once, with the value asked for', async () => {
    const result = await harness.execute(user('sports', 'dave'), UPDATE, {
      input: { favoriteTeams: ['lions', 'lions'] },
    });
    expect(result.errors[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    const mine = (await audit('sports')).filter((e) => e.actor === 'dave');
    expect(mine).toEqual([
      expect.objectContaining({
        outcome: 'INVALID',
        target: 'sports:dave',
        changes: [
          {
            key: 'sports.favoriteTeams',
            layer: 'REALM',
            before: null,
            after: ['lions', 'lions'],
          },
        ],
      }),
    ]);
  });

  it('records a malformed target id, and nothing for an anonymous caller', async () => {
    const count = (await audit('sports')).length;
    const malformed = await harness.execute(user('sports', 'erin'), UPDATE, {
      id: 'no-realm-here',
      input: {},
    });
    expect(malformed.errors[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    const anonymous = await harness.execute(null, UPDATE, { input: {} });
    expect(anonymous.errors[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');

    const entries = await audit('sports');
    expect(entries).toHaveLength(count + 1);
    expect(entries[0]).toMatchObject({
      actor: 'erin',
      target: 'no-realm-here',
      outcome: 'INVALID',
    });
  });
});

describe('the forwarded client address', () => {
  const signer = new IdentitySigner('x'.repeat(32));
  const identity = user('sports', 'alice');

  it('is signed along and verified back', async () => {
    const token = await signer.sign({
      identity,
      realm: 'sports',
      requestId: 'r1',
      clientAddress: '198.51.100.4',
    });
    expect(await signer.verify(token)).toEqual({
      identity,
      realm: 'sports',
      requestId: 'r1',
      clientAddress: '198.51.100.4',
    });
  });

  it('is null when the gateway sent none', async () => {
    const token = await signer.sign({
      identity,
      realm: 'sports',
      requestId: 'r',
    });
    expect((await signer.verify(token)).clientAddress).toBeNull();
  });
});

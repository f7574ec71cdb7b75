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

  // One accepted write in sports and one in parks, and a refused one.
  const set = `mutation ($id: ID, $value: JSON) {
    setPreferences(id: $id, values: [{ key: "locale", value: $value }]) { version }
  }`;
  await harness.execute(user('sports', 'alice'), set, { value: 'fr-FR' });
  await harness.execute(user('parks', 'pat'), set, { value: 'de-DE' });
  await harness.execute(user('sports', 'alice'), set, {
    id: 'sports:bob',
    value: 'it-IT',
  });
});
afterAll(() => harness.stop());

const AUDIT = /* GraphQL */ `
  query (
    $realm: ID
    $actor: String
    $target: ID
    $from: String
    $to: String
    $first: Int
    $after: String
  ) {
    auditLog(
      realm: $realm
      actor: $actor
      target: $target
      from: $from
      to: $to
      first: $first
      after: $after
    ) {
      entries {
        id
        at
        realmId
        actor
        actorRoles
        target
        outcome
        changes {
          key
          layer
          before
          after
        }
        requestId
        clientAddress
        errorCode
      }
      nextCursor
    }
  }
`;

interface Page {
  entries: Record<string, unknown>[];
  nextCursor: string | null;
}

function pageOf(result: { data?: Record<string, unknown> | null }): Page {
  return result.data?.['auditLog'] as Page;
}

describe('the auditLog query', () => {
  it('is FORBIDDEN for users, even for their own writes', async () => {
    const result = await harness.execute(user('sports', 'alice'), AUDIT);
    expect(result.errors[0]?.extensions?.['code']).toBe('FORBIDDEN');
    expect(result.data).toBeNull();
  });

  it("shows a realm admin their own realm's log, newest first", async () => {
    const result = await harness.execute(realmAdmin('sports'), AUDIT);
    expect(result.errors).toEqual([]);
    const { entries, nextCursor } = pageOf(result);
    expect(nextCursor).toBeNull();
    expect(entries).toEqual([
      expect.objectContaining({
        realmId: 'sports',
        actor: 'alice',
        actorRoles: ['user'],
        target: 'sports:bob',
        outcome: 'FORBIDDEN',
        changes: [],
        errorCode: 'FORBIDDEN',
      }),
      expect.objectContaining({
        realmId: 'sports',
        actor: 'alice',
        target: 'sports:alice',
        outcome: 'ACCEPTED',
        changes: [
          { key: 'locale', layer: 'GLOBAL', before: null, after: 'fr-FR' },
        ],
        clientAddress: null,
        errorCode: null,
      }),
    ]);
    expect(entries[0]?.['requestId']).toEqual(expect.any(String));
  });

  it("refuses a realm admin another realm's log", async () => {
    const result = await harness.execute(realmAdmin('sports'), AUDIT, {
      realm: 'parks',
    });
    expect(result.errors[0]?.extensions?.['code']).toBe('FORBIDDEN');
  });

  it("shows a platform admin any realm's log, the request's by default", async () => {
    const root = platformAdmin('sports');
    const parks = pageOf(
      await harness.execute(root, AUDIT, { realm: 'parks' }),
    );
    expect(parks.entries.map((e) => [e['realmId'], e['target']])).toEqual([
      ['parks', 'parks:pat'],
    ]);
    const own = pageOf(await harness.execute(root, AUDIT));
    expect(own.entries.map((e) => e['realmId'])).toEqual(['sports', 'sports']);

    const unknown = await harness.execute(root, AUDIT, { realm: 'casino' });
    expect(unknown.errors[0]?.extensions?.['code']).toBe('NOT_FOUND');
  });

  it('filters by actor, target and time, and pages', async () => {
    const admin = realmAdmin('sports');
    const byTarget = pageOf(
      await harness.execute(admin, AUDIT, { target: 'sports:bob' }),
    );
    expect(byTarget.entries.map((e) => e['outcome'])).toEqual(['FORBIDDEN']);
    const byActor = pageOf(
      await harness.execute(admin, AUDIT, { actor: 'nobody' }),
    );
    expect(byActor.entries).toEqual([]);
    const future = pageOf(
      await harness.execute(admin, AUDIT, { from: '2999-01-01T00:00:00Z' }),
    );
    expect(future.entries).toEqual([]);
    const past = pageOf(
      await harness.execute(admin, AUDIT, { to: '2000-01-01' }),
    );
    expect(past.entries).toEqual([]);

    const first = pageOf(await harness.execute(admin, AUDIT, { first: 1 }));
    expect(first.entries).toHaveLength(1);
    const second = pageOf(
      await harness.execute(admin, AUDIT, {
        first: 1,
        after: first.nextCursor,
      }),
    );
    expect(second.entries[0]?.['outcome']).toBe('ACCEPTED');
    expect(second.nextCursor).toBeNull();
  });

  it('refuses a page size outside 1..200, a bad time and a bad cursor', async () => {
    const admin = realmAdmin('sports');
    for (const variables of [
      { first: 0 },
      { first: 201 },
      { from: 'yesterday' },
      { to: '2030-01-01T10:00' },
      { after: 'not-a-cursor' },
    ]) {
      const result = await harness.execute(admin, AUDIT, variables);
      expect(result.errors[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    }
  });

  it('does not record refused reads', async () => {
    const before = pageOf(
      await harness.execute(realmAdmin('sports'), AUDIT),
    ).entries;
    await harness.execute(
      user('sports', 'alice'),
      '{ preference(id: "sports:bob") { id } }',
    );
    const after = pageOf(
      await harness.execute(realmAdmin('sports'), AUDIT),
    ).entries;
    expect(after).toEqual(before);
  });
});

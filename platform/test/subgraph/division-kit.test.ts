import { describe, expect, it } from 'vitest';
import { errorCodeOf } from '../../src/errors/graphql-errors.js';
import {
  RESET,
  type WriteRequest,
} from '../../src/preferences/write-request.js';
import {
  divisionResolvers,
  divisionUpdateResolver,
  DivisionView,
  inputChanges,
  loadDivisionView,
  type DivisionInputField,
} from '../../src/subgraph/division-kit.js';
import { preferenceRef } from '../../src/subgraph/preference-access.js';
import type { SubgraphContext } from '../../src/subgraph/subgraph-server.js';
import { realCatalog, stored } from '../fixtures.js';

const FIELDS: readonly DivisionInputField[] = [
  { path: ['alerts', 'events'], key: 'sports.alertEvents' },
  { path: ['alerts', 'channels'], key: 'sports.alertChannels' },
  { path: ['favoriteTeams'], key: 'sports.favoriteTeams' },
];

describe('inputChanges', () => {
  it('makes no change for an empty input', () => {
    expect(inputChanges({}, FIELDS, 'input')).toEqual([]);
  });

  it('sets a named value, with its input path as path and valuePath', () => {
    expect(inputChanges({ favoriteTeams: ['a'] }, FIELDS, 'input')).toEqual([
      {
        key: 'sports.favoriteTeams',
        value: ['a'],
        scope: null,
        path: ['input', 'favoriteTeams'],
        valuePath: ['input', 'favoriteTeams'],
      },
    ]);
  });

  it('resets a key given null', () => {
    const changes = inputChanges({ favoriteTeams: null }, FIELDS, 'input');
    expect(changes).toMatchObject([
      { key: 'sports.favoriteTeams', value: RESET },
    ]);
  });

  it('leaves omitted fields of a group unchanged', () => {
    const changes = inputChanges({ alerts: { events: [] } }, FIELDS, 'input');
    expect(changes).toEqual([
      {
        key: 'sports.alertEvents',
        value: [],
        scope: null,
        path: ['input', 'alerts', 'events'],
        valuePath: ['input', 'alerts', 'events'],
      },
    ]);
  });

  it('resets every key of a null group, each at its own path', () => {
    const changes = inputChanges({ alerts: null }, FIELDS, 'input');
    expect(changes).toEqual([
      {
        key: 'sports.alertEvents',
        value: RESET,
        scope: null,
        path: ['input', 'alerts', 'events'],
        valuePath: ['input', 'alerts', 'events'],
      },
      {
        key: 'sports.alertChannels',
        value: RESET,
        scope: null,
        path: ['input', 'alerts', 'channels'],
        valuePath: ['input', 'alerts', 'channels'],
      },
    ]);
  });

  it('keeps false and zero as values, not resets', () => {
    const fields = [
      { path: ['autoplay'], key: 'x.autoplay' },
      { path: ['size'], key: 'x.size' },
    ];
    const changes = inputChanges({ autoplay: false, size: 0 }, fields, 'in');
    expect(changes.map((c) => c.value)).toEqual([false, 0]);
  });

  it('starts every path with the argument name', () => {
    const [change] = inputChanges({ favoriteTeams: [] }, FIELDS, 'patch');
    expect(change?.path).toEqual(['patch', 'favoriteTeams']);
  });
});

interface SportsValues {
  readonly favoriteTeams: readonly string[];
  readonly statsUpdateFrequency: string;
}

describe('DivisionView', () => {
  const sports = realCatalog().realm('sports');
  if (!sports) throw new Error('no sports realm');

  it("serves the user's value, and the default where there is none", () => {
    const view = new DivisionView<SportsValues>(
      sports,
      stored('sports', { 'sports.favoriteTeams': ['harbor-hawks'] }),
    );
    expect(view.value('favoriteTeams')).toEqual(['harbor-hawks']);
    expect(typeof view.value('statsUpdateFrequency')).toBe('string');
  });

  it('refuses a name the realm does not define', () => {
    const view = new DivisionView<{ readonly missing: string }>(
      sports,
      stored('sports'),
    );
    expect(() => view.value('missing')).toThrow(
      'Realm "sports" does not define "sports.missing".',
    );
  });
});

/** A context just big enough for the kit, writing into `writes`. */
function fakeContext(realm: string, writes: WriteRequest[]): SubgraphContext {
  const context = {
    requestId: 'request-1',
    forwarded: { realm },
    requireIdentity: () => ({ realm, userId: 'alice', roles: ['user'] }),
    memo: new Map<string, unknown>(),
    preferences: {
      catalog: realCatalog(),
      write: (request: WriteRequest) => {
        writes.push(request);
        return Promise.resolve();
      },
    },
  };
  // The kit touches only these members; a full service is not needed.
  return context as unknown as SubgraphContext;
}

describe('loadDivisionView', () => {
  it('has no view of a preference of another realm', async () => {
    const context = fakeContext('parks', []);
    const view = await loadDivisionView<SportsValues>(
      context,
      preferenceRef('parks', 'alice'),
      'sports',
    );
    expect(view).toBeNull();
  });
});

describe('divisionUpdateResolver', () => {
  const update = divisionUpdateResolver({
    realmId: 'sports',
    mutationName: 'updateSportsPreferences',
    fields: FIELDS,
  });

  it('writes the changes as the division and returns the preference', async () => {
    const writes: WriteRequest[] = [];
    const ref = await update(
      null,
      { input: { favoriteTeams: null }, expectedVersion: 3 },
      fakeContext('sports', writes),
    );
    expect(ref).toEqual(preferenceRef('sports', 'alice'));
    expect(writes).toEqual([
      {
        realm: 'sports',
        userId: 'alice',
        changes: inputChanges({ favoriteTeams: null }, FIELDS, 'input'),
        expectedVersion: 3,
        writer: 'sports',
        globalLayerWritable: true,
        actor: 'alice',
        requestId: 'request-1',
      },
    ]);
  });

  it("refuses another realm's preference, pointing at the id", async () => {
    const writes: WriteRequest[] = [];
    const refusal = await update(
      null,
      { input: { favoriteTeams: [] }, id: 'parks:alice' },
      fakeContext('parks', writes),
    ).catch((error: unknown) => error);
    expect(errorCodeOf(refusal)).toBe('BAD_USER_INPUT');
    expect(refusal).toMatchObject({
      extensions: {
        violations: [
          {
            path: ['id'],
            key: null,
            rule: 'realm',
            message:
              'preference "parks:alice" is of realm "parks"; ' +
              'updateSportsPreferences changes sports preferences only',
          },
        ],
      },
    });
    expect(writes).toEqual([]);
  });
});

describe('divisionResolvers', () => {
  const resolvers = divisionResolvers<SportsValues>({
    realmId: 'sports',
    mutationName: 'updateSportsPreferences',
    fields: FIELDS,
  });

  it('names the mutation and the Preference field after the division', () => {
    expect(Object.keys(resolvers.Mutation)).toEqual([
      'updateSportsPreferences',
    ]);
    expect(Object.keys(resolvers.Preference)).toEqual([
      '__resolveReference',
      'sports',
      'version',
    ]);
  });
});

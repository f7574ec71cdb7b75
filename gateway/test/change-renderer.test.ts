import { parse, getOperationAST, type FieldNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { PreferenceChangeEvent } from '@realms/platform';
import {
  ChangeRenderer,
  type FederatedQuery,
} from '../src/subscriptions/change-renderer.js';

const EVENT: PreferenceChangeEvent = {
  type: 'preference.changed',
  cursor: 'sports/1-0',
  realm: 'sports',
  userId: 'alice',
  preferenceId: 'sports:alice',
  changedKeys: ['locale'],
  version: 3,
  actor: 'alice',
  originRealm: 'sports',
  at: '2026-12-03T00:00:00.000Z',
  requestId: 'r1',
};

function renderer(source: string, variables: Record<string, unknown> = {}) {
  const document = parse(source);
  const operation = getOperationAST(document);
  if (!operation) throw new Error('no operation');
  const field = operation.selectionSet.selections[0] as FieldNode;
  const key = field.alias?.value ?? field.name.value;
  return new ChangeRenderer(document, operation, field, key, variables);
}

/** Records the queries it is asked to run and answers each alias. */
function recorder(answer: Record<string, unknown>) {
  const calls: { query: string; variables: Record<string, unknown> }[] = [];
  const execute: FederatedQuery = async (query, variables) => {
    calls.push({ query, variables });
    return { data: answer };
  };
  return { calls, execute };
}

describe('rendering a change for a subscription', () => {
  it('answers event fields from the event and needs no query for them', async () => {
    const r = renderer(
      'subscription { c: preferenceChanged { cursor v: version changedKeys __typename } }',
    );
    const { calls, execute } = recorder({});
    expect(r.query).toBeNull();
    expect(await r.render(EVENT, execute)).toEqual({
      data: {
        c: {
          cursor: 'sports/1-0',
          v: 3,
          changedKeys: ['locale'],
          __typename: 'PreferenceChange',
        },
      },
    });
    expect(calls).toHaveLength(0);
  });

  it('fetches every preference selection in one query by the changed id', async () => {
    const r = renderer(
      `subscription ($keys: [String!], $unused: Int) {
        preferenceChanged {
          cursor
          preference { id ...Division values(keys: $keys) { value } }
          other: preference { version }
        }
      }
      fragment Division on Preference { sports { favoriteTeams } }
      fragment Unused on Preference { id }`,
      { keys: ['locale'], unused: 1 },
    );
    const answer = {
      preference: { id: 'sports:alice' },
      other: { version: 3 },
    };
    const { calls, execute } = recorder(answer);
    const result = await r.render(EVENT, execute);

    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call?.variables).toMatchObject({
      realmsChangedPreferenceId: 'sports:alice',
      keys: ['locale'],
    });
    expect(call?.query).toContain(
      'preference: preference(id: $realmsChangedPreferenceId)',
    );
    expect(call?.query).toContain(
      'other: preference(id: $realmsChangedPreferenceId)',
    );
    expect(call?.query).toContain('fragment Division on Preference');
    expect(call?.query).not.toContain('Unused');
    expect(call?.query).not.toContain('$unused');
    expect(result).toEqual({
      data: { preferenceChanged: { cursor: 'sports/1-0', ...answer } },
    });
  });

  it('honours @skip and @include, and inline fragments', async () => {
    const r = renderer(
      `subscription ($full: Boolean!) {
        preferenceChanged { cursor @skip(if: true) ... on PreferenceChange { version preference @include(if: $full) { id } } }
      }`,
      { full: false },
    );
    const { calls, execute } = recorder({});
    expect(await r.render(EVENT, execute)).toEqual({
      data: { preferenceChanged: { version: 3 } },
    });
    expect(calls).toHaveLength(0);
  });

  it('nulls the change and reports errors under its path when the preference fails', async () => {
    const r = renderer(
      'subscription { preferenceChanged { cursor preference { id } } }',
    );
    const execute: FederatedQuery = async () => ({
      data: { preference: null },
      errors: [
        {
          message: 'Not allowed.',
          path: ['preference'],
          extensions: { code: 'FORBIDDEN' },
        },
      ],
    });
    expect(await r.render(EVENT, execute)).toEqual({
      data: null,
      errors: [
        {
          message: 'Not allowed.',
          path: ['preferenceChanged', 'preference'],
          extensions: { code: 'FORBIDDEN' },
        },
      ],
    });
  });
});

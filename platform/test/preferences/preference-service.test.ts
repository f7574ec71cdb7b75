import { pino } from 'pino';
import { GraphQLError } from 'graphql';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createMemoryChangeBus,
  type ChangeBus,
} from '../../src/change-feed/change-bus.js';
import type { PreferenceChangeEvent } from '../../src/change-feed/change-event.js';
import { PreferenceService } from '../../src/preferences/preference-service.js';
import {
  RESET,
  type KeyChange,
  type WriteRequest,
} from '../../src/preferences/write-request.js';
import { WriteAttempt } from '../../src/audit/write-attempt.js';
import { MemoryPreferenceStore } from '../../src/storage/memory-store.js';
import { preferenceVersion } from '../../src/storage/preference-store.js';
import { realCatalog } from '../fixtures.js';

const catalog = realCatalog();
let store: MemoryPreferenceStore;
let bus: ChangeBus;
let service: PreferenceService;

beforeEach(() => {
  store = new MemoryPreferenceStore();
  bus = createMemoryChangeBus();
  service = new PreferenceService({
    catalog: () => catalog,
    store,
    bus,
    logger: pino({ level: 'silent' }),
  });
});
afterEach(async () => {
  await bus.close();
  await store.close();
});

function changes(
  values: Record<string, unknown>,
  scope: KeyChange['scope'] = null,
): KeyChange[] {
  return Object.entries(values).map(([key, value], i) => ({
    key,
    value,
    scope,
    path: ['values', i],
  }));
}

function request(overrides: Partial<WriteRequest>): WriteRequest {
  return {
    realm: 'sports',
    userId: 'alice',
    changes: [],
    expectedVersion: null,
    writer: null,
    globalLayerWritable: true,
    actor: 'alice',
    requestId: 'test',
    ...overrides,
  };
}

async function refusal(write: Promise<unknown>) {
  const error = await write.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GraphQLError);
  return error as GraphQLError;
}

describe('preference writes', () => {
  it('lists every violation and stores nothing', async () => {
    const error = await refusal(
      service.write(
        request({
          changes: changes({
            locale: 'definitely not a tag',
            theme: 'sepia',
            'notifications.channels': ['email', 'email'],
            'sports.favoriteTeams': ['x'],
            nope: 1,
            'notifications.digest': null,
          }),
        }),
      ),
    );
    expect(error.extensions['code']).toBe('BAD_USER_INPUT');
    const violations = error.extensions['violations'] as {
      key: string;
      rule: string;
      path: unknown[];
    }[];
    expect(violations.map((v) => `${v.key}:${v.rule}`)).toEqual([
      'locale:format',
      'theme:enum',
      'notifications.channels:uniqueItems',
      'sports.favoriteTeams:owner',
      'nope:unknownKey',
      'notifications.digest:required',
    ]);
    expect(violations[0]?.path).toEqual(['values', 0, 'value']);
    const stored = await store.read('sports', 'alice');
    expect(preferenceVersion(stored)).toBe(0);
  });

  it("keeps a write that may not reach the user-global layer in the realm's", async () => {
    // A realm admin writing a user of its realm: globalLayerWritable false.
    const byAdmin = (values: Record<string, unknown>, scope?: 'GLOBAL') =>
      service.write(
        request({
          actor: 'sam',
          globalLayerWritable: false,
          changes: changes(values, scope ?? null),
        }),
      );
    const error = await refusal(byAdmin({ locale: 'fr-FR' }, 'GLOBAL'));
    expect(error.extensions['code']).toBe('FORBIDDEN');
    expect(preferenceVersion(await store.read('sports', 'alice'))).toBe(0);

    await byAdmin({ locale: 'fr-FR' });
    await byAdmin({ theme: RESET });
    const stored = await store.read('sports', 'alice');
    expect(stored.realmLayer.values).toEqual({ locale: 'fr-FR' });
    expect(stored.globalLayer.values).toEqual({});

    // The user's own global value is out of the admin's reach: a reset
    // without scope removes the realm value only.
    await service.write(request({ changes: changes({ theme: 'dark' }) }));
    await byAdmin({ theme: RESET });
    expect((await store.read('sports', 'alice')).globalLayer.values).toEqual({
      theme: 'dark',
    });
  });

  it('points at the offending item inside a value', async () => {
    const error = await refusal(
      service.write(
        request({
          writer: 'sports',
          globalLayerWritable: true,
          changes: changes({
            'sports.alertEvents': ['game-start', 'fireworks'],
          }),
        }),
      ),
    );
    const violations = error.extensions['violations'] as { path: unknown[] }[];
    expect(violations[0]?.path).toEqual(['values', 0, 'value', 1]);
  });

  it('refuses locked keys and global scope for realm keys', async () => {
    const error = await refusal(
      service.write(
        request({
          realm: 'entertainment',
          changes: [
            {
              key: 'notifications.digest',
              value: 'off',
              scope: null,
              path: ['values', 0],
            },
            {
              key: 'entertainment.subtitles',
              value: true,
              scope: 'GLOBAL',
              path: ['values', 1],
            },
          ],
        }),
      ),
    );
    const rules = (error.extensions['violations'] as { rule: string }[]).map(
      (v) => v.rule,
    );
    expect(rules).toEqual(['locked', 'scope']);
  });

  it('stores a global value in the user layer and a realm-scoped one in the realm', async () => {
    await service.write(request({ changes: changes({ locale: 'fr-FR' }) }));
    await service.write(
      request({ changes: changes({ timeZone: 'Europe/Paris' }, 'REALM') }),
    );
    const sports = await store.read('sports', 'alice');
    expect(sports.globalLayer.values).toEqual({ locale: 'fr-FR' });
    expect(sports.realmLayer.values).toEqual({ timeZone: 'Europe/Paris' });
    const parks = await store.read('parks', 'alice');
    expect(parks.globalLayer.values).toEqual({ locale: 'fr-FR' });
    expect(parks.realmLayer.values).toEqual({});
  });

  it('returns CONFLICT with the current state for a stale expectedVersion', async () => {
    await service.write(request({ changes: changes({ theme: 'light' }) }));
    const error = await refusal(
      service.write(
        request({ changes: changes({ locale: 'de-DE' }), expectedVersion: 0 }),
      ),
    );
    expect(error.extensions).toMatchObject({
      code: 'CONFLICT',
      expectedVersion: 0,
      currentVersion: 1,
    });
    expect(
      (error.extensions['currentValues'] as Record<string, unknown>)['theme'],
    ).toBe('light');
    const stored = await store.read('sports', 'alice');
    expect(stored.globalLayer.values).toEqual({ theme: 'light' });
  });

  it('accepts the current expectedVersion', async () => {
    await service.write(request({ changes: changes({ theme: 'light' }) }));
    const stored = await service.write(
      request({ changes: changes({ locale: 'de-DE' }), expectedVersion: 1 }),
    );
    expect(preferenceVersion(stored)).toBe(2);
  });

  it('merges concurrent writes of different keys without expectedVersion', async () => {
    await Promise.all([
      service.write(request({ changes: changes({ theme: 'light' }) })),
      service.write(request({ changes: changes({ locale: 'it-IT' }) })),
      service.write(
        request({
          writer: 'sports',
          globalLayerWritable: true,
          changes: changes({ 'sports.favoriteTeams': ['a-b'] }),
        }),
      ),
    ]);
    const stored = await store.read('sports', 'alice');
    expect(stored.globalLayer.values).toEqual({
      theme: 'light',
      locale: 'it-IT',
    });
    expect(stored.realmLayer.values).toEqual({
      'sports.favoriteTeams': ['a-b'],
    });
  });

  it('resets to the inherited value, realm layer first', async () => {
    await service.write(request({ changes: changes({ locale: 'fr-FR' }) }));
    await service.write(
      request({ changes: changes({ locale: 'es-ES' }, 'REALM') }),
    );
    await service.write(
      request({
        changes: [
          { key: 'locale', value: RESET, scope: null, path: ['keys', 0] },
        ],
      }),
    );
    let stored = await store.read('sports', 'alice');
    expect(stored.realmLayer.values).toEqual({});
    expect(stored.globalLayer.values).toEqual({ locale: 'fr-FR' });
    await service.write(
      request({
        changes: [
          { key: 'locale', value: RESET, scope: null, path: ['keys', 0] },
        ],
      }),
    );
    stored = await store.read('sports', 'alice');
    expect(stored.globalLayer.values).toEqual({});
  });

  it('emits one event per changed preference, and none for a no-op', async () => {
    const received: PreferenceChangeEvent[] = [];
    for (const realm of catalog.realmIds) {
      await bus.subscribe(realm, (event) => received.push(event));
    }
    await service.write(
      request({
        changes: changes({ locale: 'fr-FR', 'sports.spoilerProtection': true }),
      }),
    );
    await service.write(request({ changes: changes({ locale: 'fr-FR' }) }));
    await new Promise((resolve) => setImmediate(resolve));

    expect(received.map((e) => e.realm).sort()).toEqual([
      'entertainment',
      'parks',
      'sports',
    ]);
    const sports = received.find((e) => e.realm === 'sports');
    expect(sports).toMatchObject({
      userId: 'alice',
      preferenceId: 'sports:alice',
      actor: 'alice',
      originRealm: 'sports',
      version: 2,
    });
    expect([...(sports?.changedKeys ?? [])].sort()).toEqual([
      'locale',
      'sports.spoilerProtection',
    ]);
    expect(received.find((e) => e.realm === 'parks')?.changedKeys).toEqual([
      'locale',
    ]);
  });
});

describe('the audit log of writes', () => {
  const caller = {
    actor: 'ops',
    actorRoles: ['realm-admin'],
    requestRealm: 'sports',
    requestId: 'req-7',
    clientAddress: '203.0.113.9',
  };
  const audit = async (realm = 'sports') =>
    (await store.readAudit({ realm, limit: 50 })).entries;

  it('records an accepted write with the caller bound by a write attempt', async () => {
    const attempt = new WriteAttempt(caller);
    await service.forAttempt(attempt).write(
      request({
        actor: 'ops',
        requestId: 'req-7',
        changes: changes({ locale: 'fr-FR' }),
      }),
    );
    expect(await audit()).toEqual([
      expect.objectContaining({
        realm: 'sports',
        actor: 'ops',
        actorRoles: ['realm-admin'],
        target: 'sports:alice',
        outcome: 'ACCEPTED',
        changes: [
          { key: 'locale', layer: 'GLOBAL', before: null, after: 'fr-FR' },
        ],
        requestId: 'req-7',
        clientAddress: '203.0.113.9',
        errorCode: null,
      }),
    ]);
    // Recorded by the write path: nothing is left for the subgraph to add.
    expect(attempt.unrecordedRefusal(new GraphQLError('x'))).toBeNull();
  });

  it('records a validation refusal with the requested values, storing nothing', async () => {
    const attempt = new WriteAttempt(caller);
    attempt.noteRequested('sports:alice');
    const error = await refusal(
      service.forAttempt(attempt).write(
        request({
          actor: 'ops',
          changes: [
            ...changes({ theme: 'sepia' }),
            { key: 'timeZone', value: RESET, scope: 'REALM', path: ['keys'] },
          ],
        }),
      ),
    );
    expect(error.extensions['code']).toBe('BAD_USER_INPUT');

    expect(await audit()).toEqual([
      expect.objectContaining({
        actor: 'ops',
        target: 'sports:alice',
        outcome: 'INVALID',
        errorCode: 'BAD_USER_INPUT',
        clientAddress: '203.0.113.9',
        changes: [
          { key: 'theme', layer: 'GLOBAL', before: null, after: 'sepia' },
          { key: 'timeZone', layer: 'REALM', before: null, after: null },
        ],
      }),
    ]);
    expect(preferenceVersion(await store.read('sports', 'alice'))).toBe(0);
    expect((await store.readChanges('sports', null, 10)).events).toEqual([]);
    expect(attempt.unrecordedRefusal(error)).toBeNull();
  });

  it('records a conflict, storing nothing', async () => {
    await service.write(request({ changes: changes({ theme: 'light' }) }));
    await refusal(
      service.write(
        request({ changes: changes({ theme: 'dark' }), expectedVersion: 0 }),
      ),
    );

    const [conflict, accepted] = await audit();
    expect(conflict).toMatchObject({
      outcome: 'CONFLICT',
      errorCode: 'CONFLICT',
      actor: 'alice',
      actorRoles: [],
      clientAddress: null,
      changes: [{ key: 'theme', layer: 'GLOBAL', before: null, after: 'dark' }],
    });
    expect(accepted).toMatchObject({
      outcome: 'ACCEPTED',
      changes: [{ key: 'theme', before: null, after: 'light' }],
    });
    const stored = await store.read('sports', 'alice');
    expect(stored.globalLayer.values).toEqual({ theme: 'light' });
    expect((await store.readChanges('sports', null, 10)).events).toHaveLength(
      1,
    );
  });

  it("records a write to an unknown realm in the request's realm", async () => {
    await refusal(
      service
        .forAttempt(new WriteAttempt({ ...caller, actorRoles: ['user'] }))
        .write(request({ realm: 'casino', changes: changes({ x: 1 }) })),
    );
    expect(await audit()).toEqual([
      expect.objectContaining({
        realm: 'sports',
        target: 'casino:alice',
        outcome: 'INVALID',
        errorCode: 'NOT_FOUND',
      }),
    ]);
  });
});

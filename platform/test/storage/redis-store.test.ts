import { afterAll, describe, expect, it } from 'vitest';
import { RedisPreferenceStore } from '../../src/storage/redis-store.js';
import type { WritePlanner } from '../../src/storage/preference-store.js';
import {
  describeStoreContract,
  type StoreTestOptions,
} from './store-contract.js';
import {
  connectTestRedis,
  deleteKeys,
  uniqueKeyPrefix,
} from '../redis-helpers.js';

const redis = connectTestRedis();
const prefixes: string[] = [];

afterAll(async () => {
  for (const prefix of prefixes) await deleteKeys(redis, prefix);
  await redis.quit();
});

function openStore(
  options: StoreTestOptions & { maxWriteAttempts?: number } = {},
) {
  const keyPrefix = uniqueKeyPrefix();
  prefixes.push(keyPrefix);
  return {
    store: new RedisPreferenceStore({ redis, keyPrefix, ...options }),
    keyPrefix,
  };
}

describeStoreContract('redis', async (options) => {
  const { store, keyPrefix } = openStore(options);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await deleteKeys(redis, keyPrefix);
    },
  };
});

describe('redis store specifics', () => {
  const meta = { actor: 'a', requestId: 'r' };
  const setX: WritePlanner = () => ({
    realmPatch: { set: { x: 1 }, unset: [] },
    globalPatch: { set: {}, unset: [] },
  });

  it('uses the documented key layout', async () => {
    const { store, keyPrefix } = openStore();
    await store.write(
      'sports',
      'u1',
      () => ({
        realmPatch: { set: { x: 1 }, unset: [] },
        globalPatch: { set: { g: 1 }, unset: [] },
      }),
      meta,
      ['sports'],
    );
    const keys = [];
    for (const k of ['pref:u1', 'users', 'changes'])
      keys.push(`${keyPrefix}:{sports}:${k}`);
    expect(await redis.exists(...keys, `${keyPrefix}:{global}:pref:u1`)).toBe(
      4,
    );
    expect(await redis.hget(`${keyPrefix}:{sports}:pref:u1`, 'v')).toBe('1');
    expect(await redis.type(`${keyPrefix}:{sports}:changes`)).toBe('stream');
    expect(await redis.type(`${keyPrefix}:{sports}:audit`)).toBe('stream');
    expect(await redis.exists(`${keyPrefix}:{parks}:audit`)).toBe(0);
  });

  it('trims the audit stream past retention when it is appended to', async () => {
    let nowMs = Date.parse('2030-01-01T00:00:00.000Z');
    const { store } = openStore({
      auditRetentionDays: 1,
      clock: () => new Date(nowMs),
    });
    const entry = {
      realm: 'sports',
      actor: 'a',
      actorRoles: [],
      target: 'sports:u1',
      outcome: 'FORBIDDEN' as const,
      changes: [],
      requestId: 'r',
      clientAddress: null,
      errorCode: 'FORBIDDEN',
    };
    // `MINID ~` drops whole stream nodes (100 entries by default).
    for (let i = 0; i < 300; i++) await store.appendAudit(entry);
    nowMs += 2 * 24 * 60 * 60 * 1000;
    const fresh = await store.appendAudit(entry);

    const key = store.auditKey('sports');
    expect(await redis.xlen(key)).toBeLessThan(300);
    expect((await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0]?.[0]).toBe(
      fresh.id,
    );
    expect(fresh.id).toBe(`${nowMs}-0`);
  });

  it('retries on a moved version and gives up with write contention', async () => {
    const { store } = openStore({ maxWriteAttempts: 3 });
    let calls = 0;
    // Bumps the version on the same connection, so Redis runs it after the
    // read and before the compare-and-set: every attempt loses its race.
    const interfering: WritePlanner = (current) => {
      calls++;
      void redis.hincrby(store.realmLayerKey('sports', 'u1'), 'v', 1);
      return setX(current);
    };
    await expect(
      store.write('sports', 'u1', interfering, meta, ['sports']),
    ).rejects.toThrow('write contention');
    expect(calls).toBe(3);
  });

  it('re-plans after one lost race and applies on top', async () => {
    const { store } = openStore();
    let calls = 0;
    const planner: WritePlanner = (current) => {
      calls++;
      if (calls === 1)
        void redis.hset(
          store.realmLayerKey('sports', 'u1'),
          'v',
          5,
          'd',
          '{"updatedAt":null,"values":{"y":2}}',
        );
      return setX(current);
    };
    const outcome = await store.write('sports', 'u1', planner, meta, [
      'sports',
    ]);
    expect(calls).toBe(2);
    expect(outcome.preference.realmLayer).toMatchObject({
      version: 6,
      values: { x: 1, y: 2 },
    });
    expect(outcome.events[0]?.version).toBe(6);
  });

  it('says false on ping when Redis is unreachable, without throwing', async () => {
    const { Redis } = await import('ioredis');
    const dead = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    // Expected connection errors; without a listener ioredis prints them.
    dead.on('error', () => undefined);
    const store = new RedisPreferenceStore({
      redis: dead,
      ownsClient: true,
      pingTimeoutMs: 500,
    });
    expect(await store.ping()).toBe(false);
    await store.close();
  });
});

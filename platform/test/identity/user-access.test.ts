import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { pino } from 'pino';
import { UserAdmin } from '../../src/admin/user-admin.js';
import { createRedisChangeBus } from '../../src/change-feed/change-bus.js';
import { UserAccessRegistry } from '../../src/identity/user-access.js';
import { RedisPreferenceStore } from '../../src/storage/redis-store.js';
import type { AdminAuditInput } from '../../src/storage/admin-state.js';
import {
  connectTestRedis,
  deleteKeys,
  uniqueKeyPrefix,
} from '../redis-helpers.js';

/*
 * Two processes' access registries on one Redis: a change made through
 * one reaches the other through the change bus, and another deployment's
 * announcements (another key prefix on the same Redis) change nothing.
 */

const REALMS = ['sports', 'parks'];
const logger = pino({ level: 'silent' });
const cleanupRedis = connectTestRedis();
const prefixes: string[] = [];

afterAll(async () => {
  for (const prefix of prefixes) await deleteKeys(cleanupRedis, prefix);
  await cleanupRedis.quit();
});

/** One process's state: its own connections, store, bus and registry. */
async function openProcess(keyPrefix: string) {
  const commands = connectTestRedis();
  const store = new RedisPreferenceStore({
    redis: commands,
    keyPrefix,
    ownsClient: true,
  });
  const bus = createRedisChangeBus({
    publisher: connectTestRedis(),
    subscriber: connectTestRedis(),
  });
  const access = await UserAccessRegistry.open({
    store,
    bus,
    realmIds: () => REALMS,
    logger,
  });
  const admin = new UserAdmin({ store, bus, access, logger });
  onTestFinished(async () => {
    await access.close();
    await bus.close();
    await store.close();
  });
  return { store, bus, access, admin };
}

function audit(target: string): AdminAuditInput {
  return {
    realm: 'sports',
    actor: 'ops',
    actorRoles: ['realm-admin'],
    target,
    outcome: 'ACCEPTED',
    requestId: 'req-1',
    clientAddress: null,
    errorCode: null,
  };
}

/** Waits (bounded) until `done` holds. */
async function eventually(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('user access registry over Redis', () => {
  it('tells another process of a disabled user and a granted role', async () => {
    const keyPrefix = uniqueKeyPrefix();
    prefixes.push(keyPrefix);
    const one = await openProcess(keyPrefix);
    const two = await openProcess(keyPrefix);
    const alice = {
      realm: 'sports',
      userId: 'alice',
      roles: ['user'] as const,
    };

    await one.admin.updateAccess(
      'sports',
      'alice',
      { grant: 'realm-admin' },
      audit('sports:alice'),
    );
    // The process that made the change knows at once.
    expect(one.access.apply({ ...alice, roles: ['user'] }).roles).toEqual([
      'user',
      'realm-admin',
    ]);
    await eventually(
      () => two.access.accessOf('sports', 'alice').grantedRoles.length === 1,
    );
    expect(two.access.apply({ ...alice, roles: ['user'] }).roles).toEqual([
      'user',
      'realm-admin',
    ]);

    await one.admin.updateAccess(
      'sports',
      'alice',
      { disabled: true },
      audit('sports:alice'),
    );
    await eventually(() => two.access.isDisabled('sports', 'alice'));
    expect(() => two.access.apply({ ...alice, roles: ['user'] })).toThrow(
      'This user is disabled in this realm.',
    );
    // Another realm's alice is someone else.
    expect(two.access.isDisabled('parks', 'alice')).toBe(false);

    // A process opened later reads what is stored.
    const three = await openProcess(keyPrefix);
    expect(three.access.isDisabled('sports', 'alice')).toBe(true);
  });

  it('ignores the announcements of another deployment on the same Redis', async () => {
    const ours = uniqueKeyPrefix();
    const theirs = uniqueKeyPrefix();
    prefixes.push(ours, theirs);
    const mine = await openProcess(ours);
    // Another deployment on the same Redis disables its own "bob".
    const other = await openProcess(theirs);
    await other.admin.updateAccess(
      'sports',
      'bob',
      { disabled: true },
      audit('sports:bob'),
    );
    // Then one of ours disables carol: announcements arrive in order, so
    // once carol shows, bob's was handled.
    const sibling = await openProcess(ours);
    await sibling.admin.updateAccess(
      'sports',
      'carol',
      { disabled: true },
      audit('sports:carol'),
    );
    await eventually(() => mine.access.isDisabled('sports', 'carol'));
    expect(mine.access.isDisabled('sports', 'carol')).toBe(true);
    expect(other.access.isDisabled('sports', 'bob')).toBe(true);
    // Bob is the other deployment's: nobody here disabled ours.
    expect(mine.access.isDisabled('sports', 'bob')).toBe(false);
  });
});

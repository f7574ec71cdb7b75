import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { parse } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntryInput, RedisPreferenceStore } from '@realms/platform';
import { auditRetentionDaysFromEnv } from '../../src/config.js';
import { openSubgraphRuntime, type SubgraphRuntime } from '../../src/system.js';
import { repoRoot } from '../support/processes.js';
import { REDIS_URL } from '../support/test-system.js';

/*
 * Audit retention as a running system gets it: AUDIT_RETENTION_DAYS read by
 * the launcher, handed to the state store every subgraph process opens, and
 * set for every Node service by docker-compose. Old records are crafted
 * straight into the realm's audit stream (ids are `<ms>-<seq>`, so an id
 * two days back is a record two days old); nothing waits for days to pass.
 */

const DAY_MS = 24 * 60 * 60 * 1000;
/** More than one stream node (100 entries by default): `MINID ~` drops whole nodes. */
const OLD_RECORDS = 150;

const REFUSAL: AuditEntryInput = {
  realm: 'sports',
  actor: 'mallory',
  actorRoles: ['user'],
  target: 'sports:alice',
  outcome: 'FORBIDDEN',
  changes: [],
  requestId: 'retention-test',
  clientAddress: null,
  errorCode: 'FORBIDDEN',
};

describe('AUDIT_RETENTION_DAYS', () => {
  it('defaults to 90 days and takes a positive number of days', () => {
    expect(auditRetentionDaysFromEnv({})).toBe(90);
    expect(auditRetentionDaysFromEnv({ AUDIT_RETENTION_DAYS: '' })).toBe(90);
    expect(auditRetentionDaysFromEnv({ AUDIT_RETENTION_DAYS: '30' })).toBe(30);
    expect(auditRetentionDaysFromEnv({ AUDIT_RETENTION_DAYS: '0.5' })).toBe(
      0.5,
    );
  });

  it.each(['0', '-3', 'ninety', 'Infinity'])('refuses "%s"', (value) => {
    expect(() =>
      auditRetentionDaysFromEnv({ AUDIT_RETENTION_DAYS: value }),
    ).toThrow(`AUDIT_RETENTION_DAYS must be a positive number of days`);
  });

  it('is set alike for every Node service by docker-compose, default 90', async () => {
    const compose = parse(
      await readFile(join(repoRoot, 'docker-compose.yml'), 'utf8'),
      { merge: true },
    ) as {
      services: Record<
        string,
        { command?: unknown; environment?: Record<string, string> }
      >;
    };
    const nodeServices = Object.entries(compose.services).filter(
      ([, service]) => String(service.command).startsWith('npm run'),
    );
    expect(nodeServices.map(([name]) => name)).toEqual(
      expect.arrayContaining(['core', 'sports', 'entertainment', 'parks']),
    );
    for (const [name, service] of nodeServices) {
      expect(service.environment?.['AUDIT_RETENTION_DAYS'], name).toBe(
        '${AUDIT_RETENTION_DAYS:-90}',
      );
    }
  });
});

describe('a subgraph runtime on Redis', () => {
  const prefixes: string[] = [];
  const runtimes: SubgraphRuntime[] = [];
  let redis: Redis;
  let keysDir: string;
  const saved = process.env['AUDIT_RETENTION_DAYS'];

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    keysDir = await mkdtemp(join(tmpdir(), 'realms-keys-'));
  });

  afterEach(() => {
    if (saved === undefined) delete process.env['AUDIT_RETENTION_DAYS'];
    else process.env['AUDIT_RETENTION_DAYS'] = saved;
  });

  afterAll(async () => {
    for (const runtime of runtimes) {
      await runtime.catalog.close();
      await runtime.state.close();
    }
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.unlink(...keys);
    }
    redis.disconnect();
    await rm(keysDir, { recursive: true, force: true });
  });

  /** Opens a runtime the way `npm run start:subgraph` does, env and all. */
  const open = async (retentionDays: string | undefined) => {
    if (retentionDays === undefined) delete process.env['AUDIT_RETENTION_DAYS'];
    else process.env['AUDIT_RETENTION_DAYS'] = retentionDays;
    const keyPrefix = `realms-test-${randomUUID()}`;
    prefixes.push(keyPrefix);
    const runtime = await openSubgraphRuntime({
      redisUrl: REDIS_URL,
      keyPrefix,
      keysDir,
      logger: pino({ level: 'silent' }),
    });
    runtimes.push(runtime);
    return runtime.state.store as RedisPreferenceStore;
  };

  /** Writes records dated `ageMs` ago straight into the audit stream. */
  const craftOldRecords = async (
    store: RedisPreferenceStore,
    ageMs: number,
  ) => {
    const atMs = Date.now() - ageMs;
    const record = JSON.stringify({ ...REFUSAL, at: new Date(atMs) });
    const pipeline = redis.pipeline();
    for (let seq = 0; seq < OLD_RECORDS; seq++) {
      pipeline.xadd(store.auditKey('sports'), `${atMs}-${seq}`, 'a', record);
    }
    const results = await pipeline.exec();
    for (const [error] of results ?? []) expect(error).toBeNull();
  };

  it('keeps records two days old by default', async () => {
    const store = await open(undefined);
    await craftOldRecords(store, 2 * DAY_MS);
    const fresh = await store.appendAudit(REFUSAL);

    expect(await redis.xlen(store.auditKey('sports'))).toBe(OLD_RECORDS + 1);
    const page = await store.readAudit({ realm: 'sports', limit: 5 });
    expect(page.entries[0]?.id).toBe(fresh.id);
    expect(page.entries).toHaveLength(5);
    expect(page.nextCursor).not.toBeNull();
  });

  it('drops records older than AUDIT_RETENTION_DAYS=1 on the next append and never reads them', async () => {
    const store = await open('1');
    await craftOldRecords(store, 2 * DAY_MS);
    const key = store.auditKey('sports');

    // Past the cutoff already: reads skip them before any trim.
    const before = await store.readAudit({ realm: 'sports', limit: 5 });
    expect(before.entries).toEqual([]);

    // The append trims the first stream node, which holds only old records;
    // the rest of the old records share a node with the new one and stay
    // in Redis until that node ages out too (`MINID ~`), unread.
    const fresh = await store.appendAudit(REFUSAL);
    const length = await redis.xlen(key);
    expect(length).toBeLessThan(OLD_RECORDS + 1);
    expect(length).toBeGreaterThanOrEqual(1);
    const [first] = await redis.xrange(key, '-', '+', 'COUNT', 1);
    expect(Number(first?.[0].split('-')[1])).toBeGreaterThan(0);

    const after = await store.readAudit({ realm: 'sports', limit: 5 });
    expect(after.entries.map((e) => e.id)).toEqual([fresh.id]);
    expect(after.nextCursor).toBeNull();
  });

  it('keeps records younger than the retention', async () => {
    const store = await open('3');
    await craftOldRecords(store, 2 * DAY_MS);
    await store.appendAudit(REFUSAL);
    expect(await redis.xlen(store.auditKey('sports'))).toBe(OLD_RECORDS + 1);
  });
});

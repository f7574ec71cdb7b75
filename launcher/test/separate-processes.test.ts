import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBGRAPHS } from '@realms/gateway';
import { ensureDevKeys, issueDevToken, loadCatalog } from '@realms/platform';
import {
  exitCodeWithin,
  freePort,
  repoRoot,
  runNpm,
  waitForOk,
  type ServiceProcess,
} from './support/processes.js';
import { graphql, REDIS_URL } from './support/test-system.js';

/**
 * The deployment shape: every subgraph and the gateway in its own process,
 * started with the same npm scripts docker-compose runs, sharing Redis.
 */
describe('one service per process, as docker-compose runs them', () => {
  const processes: ServiceProcess[] = [];
  const keyPrefix = `realms-test-${randomUUID()}`;
  let keysDir: string;
  let gatewayUrl: string;

  beforeAll(async () => {
    keysDir = await mkdtemp(join(tmpdir(), 'realms-keys-'));
    const catalog = await loadCatalog();
    await ensureDevKeys(catalog.realms.values(), keysDir);
    const env = {
      REDIS_URL,
      REDIS_KEY_PREFIX: keyPrefix,
      REALMS_KEYS_DIR: keysDir,
      REALMS_INTERNAL_SECRET: randomBytes(32).toString('base64url'),
      LOG_LEVEL: 'warn',
    };

    const urls: Record<string, string> = {};
    for (const { name } of SUBGRAPHS) {
      const port = await freePort();
      urls[`${name.toUpperCase()}_URL`] = `http://127.0.0.1:${port}/graphql`;
      processes.push(
        runNpm(['start:subgraph', '--', name], {
          ...env,
          [`${name.toUpperCase()}_PORT`]: String(port),
        }),
      );
    }
    const port = await freePort();
    gatewayUrl = `http://127.0.0.1:${port}/graphql`;
    processes.push(
      runNpm(['start:gateway'], { ...env, ...urls, PORT: String(port) }),
    );
    try {
      await waitForOk(new URL('/health/ready', gatewayUrl).href, 45_000);
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\n${processes.map((p) => p.output()).join('\n')}`,
      );
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await redis.unlink(...keys);
    redis.disconnect();
    await rm(keysDir, { recursive: true, force: true });
  });

  it('serves writes through one subgraph process to reads through another', async () => {
    const catalog = await loadCatalog();
    const parks = catalog.realm('parks');
    if (!parks) throw new Error('no parks realm');
    const token = await issueDevToken(
      { realm: parks, userId: 'bob', roles: ['user'] },
      keysDir,
    );

    const write = await graphql<{
      updateParksPreferences: { version: number };
    }>(
      gatewayUrl,
      'mutation { updateParksPreferences(input: { trip: { partySize: 5 } }) { version } }',
      { realm: 'parks', token },
    );
    expect(write.errors).toBeUndefined();
    const read = await graphql<{ myPreferences: Record<string, unknown> }>(
      gatewayUrl,
      '{ myPreferences { version values(keys: ["parks.partySize"]) { value source } parks { trip { partySize } } } }',
      { realm: 'parks', token },
    );
    expect(read.data?.myPreferences).toEqual({
      version: write.data?.updateParksPreferences.version,
      values: [{ value: 5, source: 'USER_REALM' }],
      parks: { trip: { partySize: 5 } },
    });
  });

  it('keeps state and the change log in Redis under the realm', async () => {
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.exists(`${keyPrefix}:{parks}:pref:bob`)).toBe(1);
      expect(await redis.xlen(`${keyPrefix}:{parks}:changes`)).toBeGreaterThan(
        0,
      );
    } finally {
      redis.disconnect();
    }
  });

  it('refuses a subgraph without Redis, pointing at npm start', async () => {
    const lone = runNpm(['start:subgraph', '--', 'core'], { REDIS_URL: '' });
    expect(await exitCodeWithin(lone)).toBe(2);
    expect(lone.output()).toContain('needs REDIS_URL');
  });
});

describe('a broken realm file', () => {
  let schemaDir: string;
  beforeAll(async () => {
    schemaDir = await mkdtemp(join(tmpdir(), 'realms-schema-'));
    await cp(join(repoRoot, 'schema'), schemaDir, { recursive: true });
    const file = join(schemaDir, 'realms', 'sports.json');
    const realm = JSON.parse(await readFile(file, 'utf8')) as Record<
      string,
      Record<string, unknown>
    >;
    realm['overrides'] = {
      ...realm['overrides'],
      theme: { enum: ['dark', 'sepia'] },
    };
    await writeFile(file, JSON.stringify(realm));
  });
  afterAll(() => rm(schemaDir, { recursive: true, force: true }));

  it('stops start-up, naming the file, the field and the rule', async () => {
    const ports = {
      PORT: '0',
      CORE_PORT: '0',
      SPORTS_PORT: '0',
      ENTERTAINMENT_PORT: '0',
      PARKS_PORT: '0',
    };
    const start = runNpm(['start'], { REALMS_SCHEMA_DIR: schemaDir, ...ports });
    expect(await exitCodeWithin(start)).toBe(1);
    expect(start.output()).toMatch(
      /sports\.json: field "theme": rule "enum": .*"sepia"/,
    );
  });

  it('stops composition the same way', async () => {
    const compose = runNpm(['compose'], { REALMS_SCHEMA_DIR: schemaDir });
    expect(await exitCodeWithin(compose)).toBe(1);
    expect(compose.output()).toMatch(
      /sports\.json: field "theme": rule "enum"/,
    );
  });
});

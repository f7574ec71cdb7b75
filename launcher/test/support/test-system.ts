import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import {
  ensureDevKeys,
  issueDevToken,
  loadCatalog,
  type Role,
} from '@realms/platform';
import {
  startSystem,
  type RunningSystem,
  type SystemOptions,
} from '../../src/system.js';

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A system on free loopback ports, with its own keys and key prefix. */
export interface TestSystem {
  readonly system: RunningSystem;
  readonly url: string;
  readonly keysDir: string;
  token(realm: string, userId: string, roles?: Role[]): Promise<string>;
  stop(): Promise<void>;
}

export type Backend = 'memory' | 'redis';

export async function startTestSystem(
  backend: Backend,
  options: Partial<
    Pick<
      SystemOptions,
      | 'production'
      | 'trustedProxies'
      | 'changeLogMaxLength'
      | 'readCache'
      | 'subscriptionLimits'
    >
  > = {},
): Promise<TestSystem> {
  const keysDir = await mkdtemp(join(tmpdir(), 'realms-keys-'));
  const keyPrefix = `realms-test-${randomUUID()}`;
  const catalog = await loadCatalog();
  await ensureDevKeys(catalog.realms.values(), keysDir);

  const system = await startSystem({
    ports: {
      gateway: 0,
      subgraphs: { core: 0, sports: 0, entertainment: 0, parks: 0 },
    },
    redisUrl: backend === 'redis' ? REDIS_URL : undefined,
    keyPrefix,
    keysDir,
    logger: pino({ level: process.env['LOG_LEVEL'] ?? 'silent' }),
    ...options,
  });

  return {
    system,
    url: system.gatewayUrl,
    keysDir,
    token: (realm, userId, roles = ['user']) => {
      const config = catalog.realm(realm);
      if (!config) throw new Error(`no realm ${realm}`);
      return issueDevToken({ realm: config, userId, roles }, keysDir);
    },
    stop: async () => {
      await system.close();
      if (backend === 'redis') await deleteKeys(keyPrefix);
      await rm(keysDir, { recursive: true, force: true });
    },
  };
}

/** Deletes every key under a test's prefix in the Redis at REDIS_URL. */
export async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(
        cursor,
        'MATCH',
        `${prefix}:*`,
        'COUNT',
        500,
      );
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** A GraphQL response as tests read it. */
export interface GraphQLResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly data?: T | null;
  readonly errors?: {
    message: string;
    path?: (string | number)[];
    extensions?: Record<string, unknown>;
  }[];
}

/** Posts an operation to the gateway over plain HTTP. */
export async function graphql<T = Record<string, unknown>>(
  url: string,
  query: string,
  options: {
    variables?: Record<string, unknown>;
    realm?: string;
    host?: string;
    token?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<GraphQLResponse<T>> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(options.realm ? { 'x-client-id': options.realm } : {}),
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    ...options.headers,
  };
  const target = new URL(url);
  if (options.host) headers['host'] = `${options.host}:${target.port}`;
  const response = await httpPost(
    target,
    headers,
    JSON.stringify({ query, variables: options.variables }),
  );
  return { status: response.status, ...(JSON.parse(response.body) as object) };
}

/**
 * A POST with node:http, because fetch() refuses to send a Host header of
 * our choosing and the realm routing tests need one.
 */
async function httpPost(
  url: URL,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; body: string }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

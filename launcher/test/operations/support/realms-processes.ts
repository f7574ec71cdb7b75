import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { SUBGRAPHS } from '@realms/gateway';
import {
  ensureDevKeys,
  issueDevToken,
  loadCatalog,
  type Role,
} from '@realms/platform';
import {
  freePort,
  runNpm,
  waitForOk,
  type ServiceProcess,
} from '../../support/processes.js';
import { deleteKeys, REDIS_URL } from '../../support/test-system.js';
import { Scrape } from './prometheus-text.js';

/** A service as docker-compose runs it, and the name its metrics carry. */
export interface RunningService {
  /** The compose service name: `gateway`, `core`, `sports`, … */
  readonly name: string;
  /** The `service` label of its metrics: `gateway`, `core-subgraph`, … */
  readonly metricsService: string;
  readonly url: string;
  readonly process: ServiceProcess;
}

/** The gateway and every subgraph, each in its own process, on Redis. */
export interface RealmsProcesses {
  readonly gatewayUrl: string;
  readonly services: readonly RunningService[];
  /** Every token issued, so tests can look for them where they must not be. */
  readonly tokens: readonly string[];
  token(realm: string, userId: string, roles?: Role[]): Promise<string>;
  /** Scrapes `/metrics` of one service. */
  scrape(service: RunningService): Promise<Scrape>;
  /** Scrapes every service, by compose service name. */
  scrapeAll(): Promise<Map<string, Scrape>>;
  stop(): Promise<void>;
}

/**
 * Starts the system the way docker-compose does: the four subgraphs and
 * the gateway as separate `npm run` processes on free loopback ports,
 * sharing Redis under a key prefix of their own. In one process (`npm
 * start`) the subgraphs' Redis connections report on the gateway's
 * registry; only separate processes show what each compose service
 * exports.
 */
export async function startRealmsProcesses(): Promise<RealmsProcesses> {
  const keyPrefix = `realms-test-${randomUUID()}`;
  const keysDir = await mkdtemp(join(tmpdir(), 'realms-keys-'));
  const catalog = await loadCatalog();
  await ensureDevKeys(catalog.realms.values(), keysDir);
  const env = {
    REDIS_URL,
    REDIS_KEY_PREFIX: keyPrefix,
    REALMS_KEYS_DIR: keysDir,
    REALMS_INTERNAL_SECRET: randomBytes(32).toString('base64url'),
  };

  const services: RunningService[] = [];
  const urls: Record<string, string> = {};
  for (const { name } of SUBGRAPHS) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/graphql`;
    urls[`${name.toUpperCase()}_URL`] = url;
    services.push({
      name,
      metricsService: `${name}-subgraph`,
      url,
      process: runNpm(['start:subgraph', '--', name], {
        ...env,
        [`${name.toUpperCase()}_PORT`]: String(port),
      }),
    });
  }
  const port = await freePort();
  const gatewayUrl = `http://127.0.0.1:${port}/graphql`;
  services.push({
    name: 'gateway',
    metricsService: 'gateway',
    url: gatewayUrl,
    process: runNpm(['start:gateway'], {
      ...env,
      ...urls,
      PORT: String(port),
    }),
  });

  const tokens: string[] = [];
  const scrape = async (service: RunningService) => {
    const response = await fetch(new URL('/metrics', service.url), {
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok)
      throw new Error(`${service.name} /metrics: ${response.status}`);
    return Scrape.parse(service.name, await response.text());
  };
  const stop = async () => {
    await Promise.all(services.map((s) => s.process.stop()));
    await deleteKeys(keyPrefix);
    await rm(keysDir, { recursive: true, force: true });
  };

  try {
    // The gateway is ready once every subgraph and Redis are.
    await waitForOk(new URL('/health/ready', gatewayUrl).href, 50_000);
  } catch (error) {
    const output = services.map((s) => `${s.name}:\n${s.process.output()}`);
    await stop();
    throw new Error(`${(error as Error).message}\n${output.join('\n')}`);
  }

  return {
    gatewayUrl,
    services,
    tokens,
    token: async (realm, userId, roles = ['user']) => {
      const config = catalog.realm(realm);
      if (!config) throw new Error(`no realm ${realm}`);
      const issued = await issueDevToken(
        { realm: config, userId, roles },
        keysDir,
      );
      tokens.push(issued);
      return issued;
    },
    scrape,
    scrapeAll: async () =>
      new Map(
        await Promise.all(
          services.map(async (s) => [s.name, await scrape(s)] as const),
        ),
      ),
    stop,
  };
}

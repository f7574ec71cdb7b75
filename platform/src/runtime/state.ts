import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  createMemoryChangeBus,
  createRedisChangeBus,
  type ChangeBus,
} from '../change-feed/change-bus.js';
import {
  MemoryConfigVersionStore,
  RedisConfigVersionStore,
  type ConfigVersionStore,
} from '../realm-config/config-versions.js';
import { MemoryPreferenceStore } from '../storage/memory-store.js';
import type { PreferenceStore } from '../storage/preference-store.js';
import { RedisPreferenceStore } from '../storage/redis-store.js';
import { instrumentRedis } from '../metrics/redis-instrumentation.js';
import type { ServiceMetrics } from '../metrics/service-metrics.js';

/** Where state lives and how changes travel, for one process. */
export interface StateBackend {
  readonly kind: 'redis' | 'memory';
  readonly store: PreferenceStore;
  readonly bus: ChangeBus;
  /** The history of configuration versions. */
  readonly configVersions: ConfigVersionStore;
  close(): Promise<void>;
}

export interface StateOptions {
  /** A Redis URL; without one, state is in memory (embedded default). */
  readonly redisUrl?: string | undefined;
  /** Prefix of every Redis key (tests use their own). Default `realms`. */
  readonly keyPrefix?: string | undefined;
  /** How many changes each realm's change log keeps (the resume window). */
  readonly changeLogMaxLength?: number | undefined;
  /**
   * How many days each realm's audit log keeps its records; every process
   * that appends to or reads the log should use the same value.
   * @default 90 (`DEFAULT_AUDIT_RETENTION_DAYS`)
   */
  readonly auditRetentionDays?: number | undefined;
  readonly logger: Logger;
  /**
   * Where the Redis connections report command latency and reconnects:
   * the metrics of the service that owns this process's state.
   */
  readonly metrics?: ServiceMetrics | undefined;
}

/**
 * Opens the state store and change bus: Redis when a URL is given (three
 * connections: commands, publishing, and a subscriber, which Redis
 * dedicates to pub/sub), otherwise in memory and in process.
 */
export function openState(options: StateOptions): StateBackend {
  if (!options.redisUrl) {
    const store = new MemoryPreferenceStore({
      changeLogMaxLength: options.changeLogMaxLength,
      auditRetentionDays: options.auditRetentionDays,
    });
    const bus = createMemoryChangeBus();
    return {
      kind: 'memory',
      store,
      bus,
      configVersions: new MemoryConfigVersionStore(),
      close: async () => {
        await bus.close();
        await store.close();
      },
    };
  }

  const logger = options.logger.child({ component: 'redis' });
  const connect = (role: string) => {
    const client = new Redis(options.redisUrl as string, {
      connectionName: `realms-${role}`,
      maxRetriesPerRequest: 3,
    });
    client.on('error', (error: Error) =>
      logger.warn({ role, err: error.message }, 'redis error'),
    );
    if (options.metrics) instrumentRedis(client, role, options.metrics.redis);
    return client;
  };
  const commands = connect('store');
  const store = new RedisPreferenceStore({
    redis: commands,
    keyPrefix: options.keyPrefix,
    changeLogMaxLength: options.changeLogMaxLength,
    auditRetentionDays: options.auditRetentionDays,
  });
  const bus = createRedisChangeBus({
    publisher: connect('publisher'),
    subscriber: connect('subscriber'),
  });
  return {
    kind: 'redis',
    store,
    bus,
    configVersions: new RedisConfigVersionStore(commands, options.keyPrefix),
    close: async () => {
      await bus.close();
      await store.close();
      commands.disconnect();
    },
  };
}

import { RedisPubSub } from 'graphql-redis-subscriptions';
import { PubSub, type PubSubEngine } from 'graphql-subscriptions';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  changeChannel,
  type ConfigChangeEvent,
  type PreferenceChangeEvent,
  type UserAccessChangeEvent,
} from './change-event.js';

/** Called with each change event of a subscribed realm. */
export type ChangeListener = (event: PreferenceChangeEvent) => void;

/** Options of {@link ChangeBus}. */
export interface ChangeBusOptions {
  /** Releases the engine's resources (connections) on `close()`. */
  readonly closeEngine?: () => Promise<void>;
  /**
   * Where a listener that throws is reported. The error is caught either
   * way, so one faulty listener neither stops delivery to the others nor
   * breaks the Redis subscriber connection. Without a logger it is dropped.
   */
  readonly logger?: Logger;
}

/** The channel that announces new configuration versions. */
const CONFIG_CHANNEL = 'realms.config-changed';

/** The channel that announces changes of users' access. */
const ACCESS_CHANNEL = 'realms.user-access-changed';

function isAccessChangeEvent(
  payload: unknown,
): payload is UserAccessChangeEvent {
  const event = payload as Partial<UserAccessChangeEvent> | null;
  return (
    typeof event === 'object' &&
    event !== null &&
    event.type === 'user-access.changed' &&
    typeof event.namespace === 'string' &&
    typeof event.realm === 'string' &&
    typeof event.userId === 'string' &&
    typeof event.access === 'object' &&
    event.access !== null
  );
}

function isConfigChangeEvent(payload: unknown): payload is ConfigChangeEvent {
  return (
    typeof payload === 'object' &&
    payload !== null &&
    (payload as { type?: unknown }).type === 'config.changed'
  );
}

/** Tells a change event apart from other payloads on the channel. */
function isChangeEvent(payload: unknown): payload is PreferenceChangeEvent {
  return (
    typeof payload === 'object' &&
    payload !== null &&
    (payload as { type?: unknown }).type === 'preference.changed'
  );
}

/**
 * Live fan-out of change events, one channel per realm, over any
 * graphql-subscriptions engine: in process for the embedded setup, Redis
 * pub/sub when several replicas must see each other's writes. Delivery is
 * at most once; a reader that must not miss events resumes from the store's
 * change log with the last cursor it saw.
 */
export class ChangeBus {
  /** The engine, for GraphQL subscriptions (`asyncIterableIterator`). */
  readonly engine: PubSubEngine;
  private readonly options: ChangeBusOptions;
  private readonly subscriptionIds = new Set<number>();
  private closed = false;

  constructor(engine: PubSubEngine, options: ChangeBusOptions = {}) {
    this.engine = engine;
    this.options = options;
  }

  /**
   * Publishes an event on its realm's channel. The payload is the event's
   * JSON form, so in-process listeners get the same plain object a Redis
   * round trip would give them, and no reference to the caller's object.
   */
  async publish(event: PreferenceChangeEvent): Promise<void> {
    const payload: unknown = JSON.parse(JSON.stringify(event));
    await this.engine.publish(changeChannel(event.realm), payload);
  }

  /**
   * Calls `onEvent` with each event of one realm published from now on.
   * Resolves once the subscription is active (for Redis: confirmed by the
   * server), and returns the function that ends it.
   */
  subscribe(
    realm: string,
    onEvent: ChangeListener,
  ): Promise<() => Promise<void>> {
    return this.listen(changeChannel(realm), isChangeEvent, onEvent, { realm });
  }

  /** Announces a new configuration version to every process. */
  async publishConfigChange(event: ConfigChangeEvent): Promise<void> {
    const payload: unknown = JSON.parse(JSON.stringify(event));
    await this.engine.publish(CONFIG_CHANNEL, payload);
  }

  /** Calls `onEvent` with each configuration change from now on. */
  subscribeConfigChanges(
    onEvent: (event: ConfigChangeEvent) => void,
  ): Promise<() => Promise<void>> {
    return this.listen(CONFIG_CHANNEL, isConfigChangeEvent, onEvent, {});
  }

  /** Announces that a user's access changed, to every process. */
  async publishAccessChange(event: UserAccessChangeEvent): Promise<void> {
    const payload: unknown = JSON.parse(JSON.stringify(event));
    await this.engine.publish(ACCESS_CHANNEL, payload);
  }

  /** Calls `onEvent` with each access change from now on. */
  subscribeAccessChanges(
    onEvent: (event: UserAccessChangeEvent) => void,
  ): Promise<() => Promise<void>> {
    return this.listen(ACCESS_CHANNEL, isAccessChangeEvent, onEvent, {});
  }

  private async listen<T>(
    channel: string,
    accepts: (payload: unknown) => payload is T,
    onEvent: (event: T) => void,
    logContext: Record<string, unknown>,
  ): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('The change bus is closed.');

    let active = true;
    const deliver = (payload: unknown) => {
      if (!active || !accepts(payload)) return;
      try {
        onEvent(payload);
      } catch (error) {
        this.options.logger?.error(
          { err: error, ...logContext },
          'change listener failed',
        );
      }
    };
    const id = await this.engine.subscribe(channel, deliver, {});
    this.subscriptionIds.add(id);

    return async () => {
      // Also drops messages already on their way to this listener.
      if (!active) return;
      active = false;
      this.unsubscribe(id);
    };
  }

  /** Ends every subscription and releases the engine's connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.subscriptionIds]) this.unsubscribe(id);
    await this.options.closeEngine?.();
  }

  private unsubscribe(id: number): void {
    if (!this.subscriptionIds.delete(id)) return;
    this.engine.unsubscribe(id);
  }
}

/** A bus inside one process, for the embedded setup and tests. */
export function createMemoryChangeBus(
  options: Pick<ChangeBusOptions, 'logger'> = {},
): ChangeBus {
  return new ChangeBus(new PubSub(), options);
}

/** Options of {@link createRedisChangeBus}. */
export interface RedisChangeBusOptions {
  /** Sends PUBLISH; may be shared with other commands. */
  readonly publisher: Redis;
  /**
   * Receives messages. Must be a connection of its own: once subscribed,
   * Redis accepts only pub/sub commands on it.
   */
  readonly subscriber: Redis;
  /**
   * Let `close()` quit both clients. On by default because the subscriber
   * connection is of no use to anyone else.
   * @default true
   */
  readonly ownsClients?: boolean;
  readonly logger?: Logger;
}

/**
 * A bus over Redis pub/sub, so every replica receives the events any of
 * them publishes. Uses classic PUBLISH/SUBSCRIBE, which a Redis Cluster
 * broadcasts to all nodes: it works there, at the cost of that broadcast.
 */
export function createRedisChangeBus(
  options: RedisChangeBusOptions,
): ChangeBus {
  const { publisher, subscriber } = options;
  if (publisher === subscriber) {
    throw new Error('The subscriber needs a Redis connection of its own.');
  }
  const engine = new RedisPubSub({ publisher, subscriber });
  const ownsClients = options.ownsClients ?? true;
  return new ChangeBus(engine, {
    closeEngine: async () => {
      if (!ownsClients) return;
      try {
        await engine.close();
      } catch {
        // QUIT fails on a connection that is already gone; make sure.
        publisher.disconnect();
        subscriber.disconnect();
      }
    },
    ...(options.logger ? { logger: options.logger } : {}),
  });
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from 'prom-client';
import { BoundedLabel } from './labels.js';

/**
 * The metrics of one service, in a registry of its own. In the embedded
 * setup the gateway and the four subgraphs share one process but each
 * serves its own `/metrics`, so nothing goes to prom-client's global
 * registry: every series carries the `service` label of the registry it
 * was made in. See docs/operations.md for the list.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly requests: RequestMetrics;
  private redisMetrics?: RedisMetrics;
  private gatewayMetrics?: GatewayMetrics;

  constructor(readonly service: string) {
    this.registry.setDefaultLabels({ service });
    // Process metrics (CPU, memory, event loop lag, GC) per registry: in the
    // embedded setup every service reports the one process it shares.
    collectDefaultMetrics({ register: this.registry });
    this.requests = new RequestMetrics(this.registry);
  }

  /** Redis command latency and connection state; made on first use. */
  get redis(): RedisMetrics {
    return (this.redisMetrics ??= new RedisMetrics(this.registry));
  }

  /** What only the gateway measures; made on first use. */
  get gateway(): GatewayMetrics {
    return (this.gatewayMetrics ??= new GatewayMetrics(this.registry));
  }

  /** The route that serves this registry in Prometheus text format. */
  route(): (req: IncomingMessage, res: ServerResponse) => void {
    return (_req, res) => {
      this.registry.metrics().then(
        (text) => {
          res.statusCode = 200;
          res.setHeader('content-type', this.registry.contentType);
          res.end(text);
        },
        () => {
          res.statusCode = 500;
          res.end('metrics unavailable\n');
        },
      );
    };
  }
}

/** Seconds; from a cache hit (~1 ms) to the subgraph timeout (5 s). */
const REQUEST_BUCKETS_SECONDS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Seconds; a Redis round trip on a LAN is well under a millisecond. */
const REDIS_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
  1,
];
/** Seconds; the sync objective is "a change reaches subscribers within 1 s". */
const SYNC_BUCKETS_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Distinct operation names a service exports before folding to `other`. */
const MAX_OPERATION_NAMES = 100;
/** Distinct Redis command names exported before folding to `other`. */
const MAX_REDIS_COMMANDS = 64;

/** How a GraphQL request ended, as the `outcome` label says it. */
export type RequestOutcome = 'success' | 'partial' | 'error';

/** GraphQL requests of any service (gateway or subgraph). */
export class RequestMetrics {
  readonly total: Counter<'realm' | 'operation' | 'outcome'>;
  readonly durationSeconds: Histogram<'realm' | 'operation' | 'outcome'>;
  readonly errors: Counter<'code'>;
  /** Bounds the `operation` label (client-chosen names). */
  readonly operationNames = new BoundedLabel(MAX_OPERATION_NAMES);

  constructor(registry: Registry) {
    this.total = new Counter({
      name: 'realms_graphql_requests_total',
      help: 'GraphQL operations served, by realm, operation name and outcome.',
      labelNames: ['realm', 'operation', 'outcome'],
      registers: [registry],
    });
    this.durationSeconds = new Histogram({
      name: 'realms_graphql_request_duration_seconds',
      help: 'Time from the start of a GraphQL operation to its response.',
      labelNames: ['realm', 'operation', 'outcome'],
      buckets: REQUEST_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.errors = new Counter({
      name: 'realms_graphql_errors_total',
      help: 'Errors sent to clients, by extensions.code.',
      labelNames: ['code'],
      registers: [registry],
    });
  }
}

/** The Redis connections of a process, by role (store, publisher, …). */
export class RedisMetrics {
  readonly commandSeconds: Histogram<'role' | 'command' | 'outcome'>;
  readonly reconnects: Counter<'role'>;
  readonly connected: Gauge<'role'>;
  /** Bounds the `command` label (`call()` accepts any name). */
  readonly commandNames = new BoundedLabel(MAX_REDIS_COMMANDS);

  constructor(registry: Registry) {
    this.commandSeconds = new Histogram({
      name: 'realms_redis_command_duration_seconds',
      help:
        'Time from sending a Redis command (or queueing it while offline) ' +
        'to its reply.',
      labelNames: ['role', 'command', 'outcome'],
      buckets: REDIS_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.reconnects = new Counter({
      name: 'realms_redis_reconnects_total',
      help: 'Times a Redis connection was lost and a reconnect scheduled.',
      labelNames: ['role'],
      registers: [registry],
    });
    this.connected = new Gauge({
      name: 'realms_redis_connected',
      help: '1 while the Redis connection of this role is ready, else 0.',
      labelNames: ['role'],
      registers: [registry],
    });
  }
}

/** Subgraph fetches, subscriptions and the read cache, at the gateway. */
export class GatewayMetrics {
  readonly subgraphFetchSeconds: Histogram<'subgraph' | 'outcome'>;
  readonly activeSubscriptions: Gauge<'realm' | 'kind'>;
  readonly eventsDelivered: Counter<'realm' | 'kind'>;
  readonly stateSyncSeconds: Histogram<'realm'>;
  readonly readCacheLookups: Counter<'result'>;
  readonly entityCacheLookups: Counter<'subgraph' | 'result'>;

  constructor(registry: Registry) {
    this.subgraphFetchSeconds = new Histogram({
      name: 'realms_subgraph_fetch_duration_seconds',
      help: 'Time the gateway waited for one subgraph fetch.',
      labelNames: ['subgraph', 'outcome'],
      buckets: REQUEST_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.activeSubscriptions = new Gauge({
      name: 'realms_subscriptions_active',
      help: 'Subscriptions open now, by realm and kind (preference, config).',
      labelNames: ['realm', 'kind'],
      registers: [registry],
    });
    this.eventsDelivered = new Counter({
      name: 'realms_subscription_events_delivered_total',
      help: 'Subscription results handed to subscribers.',
      labelNames: ['realm', 'kind'],
      registers: [registry],
    });
    this.stateSyncSeconds = new Histogram({
      name: 'realms_state_sync_latency_seconds',
      help:
        'Time from a write being stored (the change event `at`) to its ' +
        'result being ready for a live subscriber at the gateway.',
      labelNames: ['realm'],
      buckets: SYNC_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.readCacheLookups = new Counter({
      name: 'realms_read_cache_lookups_total',
      help: 'Cacheable reads looked up in the read cache, by hit or miss.',
      labelNames: ['result'],
      registers: [registry],
    });
    this.entityCacheLookups = new Counter({
      name: 'realms_entity_cache_lookups_total',
      help:
        'Single-entity subgraph fetches looked up in the entity cache, by ' +
        'subgraph and hit or miss.',
      labelNames: ['subgraph', 'result'],
      registers: [registry],
    });
  }
}

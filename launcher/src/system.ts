import '@realms/platform/telemetry';
import {
  readSupergraph,
  startGateway,
  SubscriptionReporter,
  SUBGRAPHS,
  trustedProxiesFromEnv,
  type GatewayOptions,
  type SubgraphName,
} from '@realms/gateway';
import {
  ConfigAdmin,
  ensureDevKeys,
  IdentitySigner,
  LiveCatalog,
  loadInternalSecret,
  openState,
  PreferenceService,
  RealmTokenVerifier,
  ServiceMetrics,
  startSubgraph,
  UserAccessRegistry,
  UserAdmin,
  type Logger,
  type PreferenceCatalog,
  type RunningServer,
  type StateBackend,
} from '@realms/platform';
import { auditRetentionDaysFromEnv, type ServicePorts } from './config.js';
import { SUBGRAPH_DEFINITIONS } from './subgraph-definitions.js';

export interface SystemOptions {
  readonly ports: ServicePorts;
  /** Interface to listen on. Default 127.0.0.1. */
  readonly host?: string;
  /** Redis for state and changes; without it, memory (embedded default). */
  readonly redisUrl?: string | undefined;
  readonly keyPrefix?: string | undefined;
  /** Changes kept per realm for resuming; `CHANGE_LOG_MAX_LENGTH` or the store's default. */
  readonly changeLogMaxLength?: number | undefined;
  /** Days the audit log keeps records; `AUDIT_RETENTION_DAYS` or 90. */
  readonly auditRetentionDays?: number | undefined;
  /** Key files folder; defaults to `REALMS_KEYS_DIR` or `var/keys`. */
  readonly keysDir?: string;
  readonly production?: boolean;
  /** The gateway's read cache settings, or false to turn it off. */
  readonly readCache?: GatewayOptions['readCache'];
  /** When a subscriber counts as slow; the gateway's defaults otherwise. */
  readonly subscriptionLimits?: GatewayOptions['subscriptionLimits'];
  /** Addresses whose realm header is believed; default from the env. */
  readonly trustedProxies?: readonly string[];
  readonly logger: Logger;
}

/** A running system: the gateway and its four subgraphs. */
export interface RunningSystem {
  readonly gatewayUrl: string;
  readonly subgraphUrls: Readonly<Record<SubgraphName, string>>;
  /** The configuration in force (it follows published versions). */
  readonly catalog: PreferenceCatalog;
  readonly liveCatalog: LiveCatalog;
  readonly preferences: PreferenceService;
  readonly state: StateBackend;
  /** Who is disabled and which roles were granted, as this process knows. */
  readonly access: UserAccessRegistry;
  /** Reports the gateway's open subscriptions (tests report on demand). */
  readonly subscriptionReporter: SubscriptionReporter;
  /** The subgraphs' HTTP servers (tests count the requests they get). */
  readonly subgraphServers: ReadonlyMap<SubgraphName, RunningServer>;
  /** Stops one subgraph (tests use it to see readiness fail). */
  stopSubgraph(name: SubgraphName): Promise<void>;
  close(): Promise<void>;
}

/** What a subgraph process needs besides its definition. */
export interface SubgraphRuntime {
  readonly catalog: LiveCatalog;
  readonly state: StateBackend;
  readonly preferences: PreferenceService;
  readonly signer: IdentitySigner;
  /** Users' access as admins set it, kept current through the bus. */
  readonly access: UserAccessRegistry;
  /** The admin API's user management, overview and usage. */
  readonly userAdmin: UserAdmin;
}

/** Loads the schema, opens state, and reads the internal secret. */
export async function openSubgraphRuntime(options: {
  redisUrl?: string | undefined;
  keyPrefix?: string | undefined;
  changeLogMaxLength?: number | undefined;
  auditRetentionDays?: number | undefined;
  keysDir?: string | undefined;
  logger: Logger;
  /** Where the Redis connections report (the process's own service). */
  metrics?: ServiceMetrics | undefined;
}): Promise<SubgraphRuntime> {
  const state = openState({
    ...options,
    keyPrefix: options.keyPrefix ?? process.env['REDIS_KEY_PREFIX'],
    changeLogMaxLength:
      options.changeLogMaxLength ?? changeLogMaxLengthFromEnv(),
    auditRetentionDays:
      options.auditRetentionDays ?? auditRetentionDaysFromEnv(),
  });
  const catalog = await LiveCatalog.open({
    store: state.configVersions,
    bus: state.bus,
    logger: options.logger,
  });
  const preferences = new PreferenceService({
    catalog: () => catalog.get(),
    store: state.store,
    bus: state.bus,
    logger: options.logger,
    migrations: () => catalog.migrations,
  });
  const signer = new IdentitySigner(await loadInternalSecret(options.keysDir));
  const access = await UserAccessRegistry.open({
    store: state.store,
    bus: state.bus,
    realmIds: () => catalog.get().realmIds,
    logger: options.logger,
  });
  const userAdmin = new UserAdmin({
    store: state.store,
    bus: state.bus,
    access,
    logger: options.logger,
  });
  return { catalog, state, preferences, signer, access, userAdmin };
}

/** `CHANGE_LOG_MAX_LENGTH`: changes kept per realm, if set. */
function changeLogMaxLengthFromEnv(): number | undefined {
  const value = process.env['CHANGE_LOG_MAX_LENGTH'];
  if (!value) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) {
    throw new Error(
      `CHANGE_LOG_MAX_LENGTH must be a positive integer, got "${value}"`,
    );
  }
  return parsed;
}

/** Starts one subgraph on its own port. */
export function serveSubgraph(
  name: SubgraphName,
  runtime: SubgraphRuntime,
  port: number,
  host: string,
  logger: Logger,
  metrics?: ServiceMetrics,
): Promise<RunningServer> {
  return startSubgraph(
    SUBGRAPH_DEFINITIONS[name],
    {
      preferences: runtime.preferences,
      signer: runtime.signer,
      logger,
      storeReady: () => runtime.state.store.ping(),
      ...(metrics ? { metrics } : {}),
      configuration: new ConfigAdmin({
        catalog: runtime.catalog,
        versions: runtime.state.configVersions,
        store: runtime.state.store,
      }),
      userAdmin: runtime.userAdmin,
    },
    port,
    host,
  );
}

/**
 * Starts the whole system in this process: four subgraphs, each on its own
 * port, sharing one state backend, and the gateway in front of them. This
 * is `npm start`, and what the end-to-end tests run.
 */
export async function startSystem(
  options: SystemOptions,
): Promise<RunningSystem> {
  const host = options.host ?? '127.0.0.1';
  // The services share this process's Redis connections; they report on
  // the gateway's /metrics (each subgraph serves its own requests only).
  const gatewayMetrics = new ServiceMetrics('gateway');
  const runtime = await openSubgraphRuntime({
    ...options,
    metrics: gatewayMetrics,
  });
  if (!options.production)
    await ensureDevKeys(runtime.catalog.get().realms.values(), options.keysDir);

  const subgraphs = new Map<SubgraphName, RunningServer>();
  const subgraphUrls = {} as Record<SubgraphName, string>;
  for (const { name } of SUBGRAPHS) {
    const server = await serveSubgraph(
      name,
      runtime,
      options.ports.subgraphs[name],
      host,
      options.logger,
    );
    subgraphs.set(name, server);
    subgraphUrls[name] = server.url;
  }

  const gateway = await startGateway(
    {
      supergraphSdl: await readSupergraph(),
      subgraphUrls,
      catalog: () => runtime.catalog.get(),
      verifier: await RealmTokenVerifier.load(
        runtime.catalog.get().realms.values(),
        options.keysDir,
        // The gateway and the subgraphs share this process's registry.
        { logger: options.logger, access: runtime.access },
      ),
      signer: runtime.signer,
      trustedProxies: options.trustedProxies ?? trustedProxiesFromEnv(),
      logger: options.logger.child({ service: 'gateway' }),
      metrics: gatewayMetrics,
      production: options.production ?? false,
      changeFeed: { store: runtime.state.store, bus: runtime.state.bus },
      liveCatalog: runtime.catalog,
      ...(options.readCache !== undefined
        ? { readCache: options.readCache }
        : {}),
      ...(options.subscriptionLimits
        ? { subscriptionLimits: options.subscriptionLimits }
        : {}),
      dependencies:
        runtime.state.kind === 'redis'
          ? { redis: () => runtime.state.store.ping() }
          : {},
    },
    options.ports.gateway,
    host,
  );
  const subscriptionReporter = SubscriptionReporter.start({
    store: runtime.state.store,
    metrics: gatewayMetrics.gateway,
    realmIds: () => runtime.catalog.get().realmIds,
    logger: options.logger,
  });

  return {
    gatewayUrl: gateway.url,
    subgraphUrls,
    get catalog() {
      return runtime.catalog.get();
    },
    liveCatalog: runtime.catalog,
    preferences: runtime.preferences,
    state: runtime.state,
    access: runtime.access,
    subscriptionReporter,
    subgraphServers: subgraphs,
    stopSubgraph: async (name) => {
      await subgraphs.get(name)?.close();
      subgraphs.delete(name);
    },
    close: async () => {
      await subscriptionReporter.close();
      await gateway.close();
      for (const server of subgraphs.values()) await server.close();
      await runtime.access.close();
      await runtime.catalog.close();
      await runtime.state.close();
    },
  };
}

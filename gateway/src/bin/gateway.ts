// The gateway as its own process (docker-compose, `npm run start:gateway`).
import '@realms/platform/telemetry';
import {
  createLogger,
  ensureDevKeys,
  IdentitySigner,
  LiveCatalog,
  loadCatalog,
  loadInternalSecret,
  type PreferenceCatalog,
  RealmTokenVerifier,
  ServiceMetrics,
  openState,
  startTracing,
  UserAccessRegistry,
} from '@realms/platform';
import { startGateway } from '../gateway-server.js';
import { SubscriptionReporter } from '../subscriptions/subscription-reporter.js';
import { trustedProxiesFromEnv } from '../realm-routing/realm-router.js';
import {
  readSupergraph,
  SUBGRAPHS,
  type SubgraphName,
} from '../supergraph/compose.js';

const logger = createLogger('gateway');
const production = process.env['NODE_ENV'] === 'production';

try {
  // Off (and the SDK not even loaded) unless an OTLP endpoint is set.
  const tracing = await startTracing({ serviceName: 'gateway', logger });
  const subgraphUrls = {} as Record<SubgraphName, string>;
  for (const { name, port } of SUBGRAPHS) {
    subgraphUrls[name] =
      process.env[`${name.toUpperCase()}_URL`] ??
      `http://127.0.0.1:${port}/graphql`;
  }
  // Subscriptions are served from the change log and bus in Redis; on its
  // own, without Redis, the gateway serves queries and mutations only.
  const redisUrl = process.env['REDIS_URL'];
  const metrics = new ServiceMetrics('gateway');
  const state = redisUrl
    ? openState({
        redisUrl,
        keyPrefix: process.env['REDIS_KEY_PREFIX'],
        logger,
        metrics,
      })
    : null;
  // With Redis, the configuration follows published versions like every
  // other process; without it, the schema files are all there is.
  const live = state
    ? await LiveCatalog.open({
        store: state.configVersions,
        bus: state.bus,
        logger,
      })
    : null;
  const files = live ? null : await loadCatalog();
  const catalog = () => live?.get() ?? (files as PreferenceCatalog);
  if (!production) await ensureDevKeys(catalog().realms.values());
  // Disabled users and granted roles, from the same store the subgraphs
  // write; without Redis there is no admin API to change them.
  const access = state
    ? await UserAccessRegistry.open({
        store: state.store,
        bus: state.bus,
        realmIds: () => catalog().realmIds,
        logger,
      })
    : null;

  const gateway = await startGateway(
    {
      supergraphSdl: await readSupergraph(),
      subgraphUrls,
      catalog,
      verifier: await RealmTokenVerifier.load(
        catalog().realms.values(),
        undefined,
        {
          logger,
          ...(access ? { access } : {}),
        },
      ),
      signer: new IdentitySigner(await loadInternalSecret()),
      trustedProxies: trustedProxiesFromEnv(),
      logger,
      metrics,
      production,
      ...(process.env['SUBGRAPH_TIMEOUT_MS']
        ? { subgraphTimeoutMs: Number(process.env['SUBGRAPH_TIMEOUT_MS']) }
        : {}),
      dependencies: state ? { redis: () => state.store.ping() } : {},
      ...(state ? { changeFeed: { store: state.store, bus: state.bus } } : {}),
      ...(live ? { liveCatalog: live } : {}),
    },
    Number(process.env['PORT'] ?? 4000),
    process.env['HOST'] ?? '127.0.0.1',
  );
  logger.info({ url: gateway.url, subgraphUrls }, 'gateway listening');
  const reporter = state
    ? SubscriptionReporter.start({
        store: state.store,
        metrics: metrics.gateway,
        realmIds: () => catalog().realmIds,
        logger,
      })
    : null;

  const stop = async () => {
    await reporter?.close();
    await gateway.close();
    await access?.close();
    await live?.close();
    await state?.close();
    await tracing?.shutdown();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (error) {
  logger.fatal({ err: error }, 'gateway failed to start');
  console.error((error as Error).message);
  process.exit(1);
}

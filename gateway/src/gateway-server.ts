import '@realms/platform/telemetry';
import {
  ApolloGateway,
  RemoteGraphQLDataSource,
  type GraphQLDataSourceProcessOptions,
} from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import {
  GraphQLError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import {
  errorReportingPlugin,
  failingRequest,
  realmsError,
  clientErrorFormatter,
  IDENTITY_HEADER,
  injectTraceContext,
  REQUEST_ID_HEADER,
  realmLabel,
  requestMetricsPlugin,
  ServiceMetrics,
  startServiceHttpServer,
  type ChangeBus,
  type GatewayMetrics,
  type DependencyState,
  dependencyState,
  unreachable,
  type PreferenceStore,
  type Identity,
  type IdentitySigner,
  type LiveCatalog,
  type Logger,
  type LoggingContext,
  type PreferenceCatalog,
  type RealmConfig,
  type RealmTokenVerifier,
  type RunningServer,
} from '@realms/platform';
import { authenticate } from './auth/authenticate.js';
import { rootFieldPolicyPlugin } from './auth/root-field-policy.js';
import { REQUEST_LIMITS, requestLimits } from './protection/request-limits.js';
import { startReadCache } from './read-cache/read-cache.js';
import { withVerifiedTokenCache } from './read-cache/verified-tokens.js';
import { readCachePlugin } from './read-cache/read-cache-plugin.js';
import { readShortcut } from './read-cache/read-shortcut.js';
import { entityFetchPlan } from './read-cache/entity-cache.js';
import type {
  ResponseCache,
  ResponseCacheOptions,
} from './read-cache/response-cache.js';
import {
  attachSubscriptionServer,
  type SubscriberLimits,
} from './subscriptions/subscription-server.js';
import { RealmRouter } from './realm-routing/realm-router.js';
import type { SubgraphName } from './supergraph/compose.js';

/** What the gateway knows about one request. */
export interface GatewayContext extends LoggingContext {
  /** The request's realm, or null when it could not be resolved. */
  readonly realm: RealmConfig | null;
  /** Why the realm could not be resolved. */
  readonly realmError: GraphQLError | null;
  readonly identity: Identity | null;
  /** The signed identity for subgraphs, made once per request. */
  readonly forwardedIdentity: () => Promise<string>;
}

export interface GatewayOptions {
  readonly supergraphSdl: string;
  /** Where each subgraph answers, e.g. `http://127.0.0.1:4001/graphql`. */
  readonly subgraphUrls: Readonly<Record<SubgraphName, string>>;
  readonly catalog: () => PreferenceCatalog;
  readonly verifier: RealmTokenVerifier;
  readonly signer: IdentitySigner;
  readonly trustedProxies: Iterable<string>;
  readonly logger: Logger;
  /** Production turns off Sandbox, introspection and detailed errors. */
  readonly production: boolean;
  /**
   * The change log and bus that subscriptions are served from. Without
   * them the gateway serves no WebSocket endpoint.
   */
  readonly changeFeed?: {
    readonly store: PreferenceStore;
    readonly bus: ChangeBus;
  };
  /**
   * The configuration as it follows published versions; the read cache
   * keys on its version and empties when it changes.
   */
  readonly liveCatalog?: LiveCatalog;
  /**
   * The read cache (needs `changeFeed` to stay correct). On by default when
   * there is a change feed; `false` turns it off.
   */
  readonly readCache?: false | ResponseCacheOptions;
  /** Extra readiness checks (e.g. Redis, when configured). */
  readonly dependencies?: Record<string, () => Promise<boolean>>;
  readonly maxBodyBytes?: number;
  /** How long a subgraph may take to answer one fetch. Default 5 s. */
  readonly subgraphTimeoutMs?: number;
  /** When a subscriber counts as slow (defaults in subscription-server.ts). */
  readonly subscriptionLimits?: SubscriberLimits;
  /**
   * Where the gateway's metrics go (served at `/metrics`). Default: a
   * registry of its own, with `service` = `gateway`.
   */
  readonly metrics?: ServiceMetrics;
}

const DEFAULT_SUBGRAPH_TIMEOUT_MS = 5_000;
const DEFAULT_READ_CACHE: ResponseCacheOptions = {
  maxEntries: 50_000,
  ttlMs: 5 * 60_000,
};
/**
 * One division entry per user and realm that reads: small (a division's
 * fields of one preference), so more of them fit than whole responses.
 */
const DEFAULT_ENTITY_CACHE: ResponseCacheOptions = {
  maxEntries: 30_000,
  ttlMs: 5 * 60_000,
};
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** How long readiness waits for a subgraph's health answer. */
const SUBGRAPH_HEALTH_TIMEOUT_MS = 2_000;

/**
 * Passes the verified identity and request id to every subgraph. The
 * identity is signed, so subgraphs trust it without trusting the network.
 */
class SignedIdentityDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  constructor(
    private readonly serviceName: string,
    url: string,
    timeoutMs: number,
    private readonly metrics: GatewayMetrics,
    private readonly entityCache: EntityCacheAccess | null,
  ) {
    const fetchSeconds = metrics.subgraphFetchSeconds;
    // A keep-alive HTTP client of our own instead of fetch: WHATWG fetch
    // costs a stream and several objects per call, measurable on the miss
    // path (bench/README.md). A per-subgraph timeout turns a hung subgraph
    // into a SUBGRAPH_UNAVAILABLE on its fields only.
    const post = keepAlivePost(url, timeoutMs);
    super({
      url,
      fetcher: (async (input: string, init: SubgraphRequestInit) => {
        const started = performance.now();
        let outcome = 'error';
        try {
          const response = await post(input, init);
          if (response.ok) outcome = 'success';
          return response;
        } finally {
          fetchSeconds.observe(
            { subgraph: serviceName, outcome },
            (performance.now() - started) / 1000,
          );
        }
      }) as never,
    });
  }

  /**
   * A single-entity fetch (a division's fields of one preference) is
   * answered from the entity cache when it can be (entity-cache.ts);
   * everything else goes to the subgraph.
   */
  override async process(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
  ): Promise<GatewayGraphQLResponse> {
    // Only a client's operation carries a client's context (not health
    // checks or schema loading); the kind enum is not exported, its
    // `incomingRequestContext` tells the same.
    const plan =
      this.entityCache && 'incomingRequestContext' in options
        ? entityFetchPlan(
            this.serviceName,
            options.request,
            options.context,
            this.entityCache.version(),
            this.entityCache.cache,
          )
        : null;
    if (!plan || !this.entityCache) return super.process(options);

    const { cache } = this.entityCache;
    const cached = cache.get(plan.key);
    this.metrics.entityCacheLookups.inc({
      subgraph: this.serviceName,
      result: cached ? 'hit' : 'miss',
    });
    if (cached) return cached;
    const response = await super.process(options);
    if (!response.errors?.length && response.data) {
      cache.set(
        plan.key,
        { data: response.data },
        plan.dependsOn,
        plan.snapshot,
      );
    }
    return response;
  }

  /**
   * A subgraph that cannot be reached costs only its own fields. The
   * client learns which service failed, not its address; the log has it.
   */
  override didEncounterError(
    error: Error,
    _request: unknown,
    _response?: unknown,
    context?: GatewayContext,
  ): void {
    if (error instanceof GraphQLError) throw error;
    context?.logger.warn(
      { serviceName: this.serviceName, err: error.message },
      'subgraph did not answer',
    );
    throw realmsError(
      'SUBGRAPH_UNAVAILABLE',
      `The ${this.serviceName} service did not answer.`,
      { serviceName: this.serviceName },
    );
  }

  override async willSendRequest({
    request,
    context,
  }: Parameters<
    NonNullable<RemoteGraphQLDataSource<GatewayContext>['willSendRequest']>
  >[0]) {
    // The subgraph continues this fetch's trace (the gateway itself does
    // not inject trace context into subgraph requests).
    if (request.http) injectTraceContext(request.http.headers);
    if (!context.forwardedIdentity) return;
    request.http?.headers.set(
      IDENTITY_HEADER,
      await context.forwardedIdentity(),
    );
    request.http?.headers.set(REQUEST_ID_HEADER, context.requestId);
  }
}

/** The entity cache, as the subgraph data sources use it. */
interface EntityCacheAccess {
  readonly cache: ResponseCache;
  /** The configuration version in force (part of every key). */
  readonly version: () => number;
}

/** What RemoteGraphQLDataSource hands its fetcher. */
interface SubgraphRequestInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/** The part of a fetch Response that RemoteGraphQLDataSource reads. */
interface SubgraphResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
  json(): Promise<unknown>;
}

/**
 * POSTs over a keep-alive connection pool of one subgraph (node:http or
 * node:https by the URL), failing after `timeoutMs`.
 */
function keepAlivePost(
  baseUrl: string,
  timeoutMs: number,
): (url: string, init: SubgraphRequestInit) => Promise<SubgraphResponse> {
  const secure = baseUrl.startsWith('https:');
  const agent = secure
    ? new HttpsAgent({ keepAlive: true, scheduling: 'lifo' })
    : new HttpAgent({ keepAlive: true, scheduling: 'lifo' });
  const send = secure ? httpsRequest : httpRequest;
  return (url, init) =>
    new Promise<SubgraphResponse>((resolve, reject) => {
      const body = init.body ?? '';
      const request = send(url, {
        method: init.method ?? 'POST',
        agent,
        headers: {
          ...init.headers,
          'content-length': String(Buffer.byteLength(body)),
        },
      });
      const timer = setTimeout(
        () =>
          request.destroy(new Error(`timeout: no answer in ${timeoutMs} ms`)),
        timeoutMs,
      );
      request.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      request.once('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        response.once('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          const status = response.statusCode ?? 0;
          resolve({
            ok: status >= 200 && status < 300,
            status,
            statusText: response.statusMessage ?? '',
            url,
            headers: {
              get: (name) => {
                const value = response.headers[name.toLowerCase()];
                if (value === undefined) return null;
                return Array.isArray(value) ? value.join(', ') : value;
              },
            },
            text: async () => text,
            json: async () => JSON.parse(text) as unknown,
          });
        });
      });
      request.end(body);
    });
}

/**
 * Refuses an operation without a realm, unless it only asks about the
 * schema itself: Sandbox and code generators introspect from any host.
 */
const realmRequiredPlugin: ApolloServerPlugin<GatewayContext> = {
  async requestDidStart() {
    return {
      async didResolveOperation({ contextValue, operation }) {
        if (contextValue.realmError && !isIntrospectionOnly(operation)) {
          throw failingRequest(contextValue.realmError);
        }
      },
    };
  },
};

function isIntrospectionOnly(
  operation: OperationDefinitionNode | undefined,
): boolean {
  return (
    !!operation &&
    operation.selectionSet.selections.every(
      (s) => s.kind === 'Field' && s.name.value.startsWith('__'),
    )
  );
}

/** Builds and starts the gateway's HTTP server. */
export async function startGateway(
  options: GatewayOptions,
  port: number,
  host?: string,
): Promise<RunningServer> {
  const metrics = options.metrics ?? new ServiceMetrics('gateway');
  const configVersion = () => options.liveCatalog?.version ?? 0;
  const readCache =
    options.changeFeed && options.readCache !== false
      ? await startReadCache({
          ...options.changeFeed,
          realmIds: options.catalog().realmIds,
          logger: options.logger,
          limits: options.readCache ?? DEFAULT_READ_CACHE,
          entityLimits: DEFAULT_ENTITY_CACHE,
        })
      : null;
  const stopFollowingConfig = options.liveCatalog?.onChange(() =>
    readCache?.caches.clear(),
  );
  const entityCache = readCache
    ? { cache: readCache.caches.entities, version: configVersion }
    : null;

  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl,
    logger: options.logger,
    buildService: ({ name }) =>
      new SignedIdentityDataSource(
        name,
        options.subgraphUrls[name as SubgraphName],
        options.subgraphTimeoutMs ?? DEFAULT_SUBGRAPH_TIMEOUT_MS,
        metrics.gateway,
        entityCache,
      ),
  });

  let apiSchema: GraphQLSchema | null = null;
  gateway.onSchemaLoadOrUpdate(({ apiSchema: schema }) => {
    apiSchema = schema;
  });

  const limits = requestLimits<GatewayContext>(options.production);

  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    logger: options.logger,
    introspection: !options.production,
    includeStacktraceInErrorResponses: false,
    // One operation per request: batches would multiply every limit.
    allowBatchedHttpRequests: false,
    csrfPrevention: true,
    validationRules: limits.validationRules,
    formatError: clientErrorFormatter({ hideSuggestions: options.production }),
    // A document over the token limit is a syntax error (400), refused
    // before the parser builds anything from it.
    parseOptions: { maxTokens: REQUEST_LIMITS.maxTokens },
    plugins: [
      requestMetricsPlugin<GatewayContext>({
        metrics: metrics.requests,
        realmOf: (context) => context.realm?.id,
        knownRealms: () => options.catalog().realmIds,
      }),
      ...limits.plugins,
      ...(readCache
        ? [
            readCachePlugin(readCache.caches, {
              version: configVersion,
              realmIds: () => options.catalog().realmIds,
              onLookup: (result) =>
                metrics.gateway.readCacheLookups.inc({ result }),
            }),
          ]
        : []),
      errorReportingPlugin<GatewayContext>(),
      realmRequiredPlugin,
      rootFieldPolicyPlugin,
      options.production
        ? ApolloServerPluginLandingPageDisabled()
        : ApolloServerPluginLandingPageLocalDefault({
            footer: false,
            includeCookies: false,
            headers: { [REALM_HEADER_FOR_SANDBOX]: 'sports' },
          }),
    ],
  });
  await apollo.start();

  // A hit is counted like any request, through label-bound children made
  // once per realm and operation: prom-client would otherwise hash the
  // labels of each of a hit's three observations (bounded: both labels
  // take known values only).
  const cacheHits = metrics.gateway.readCacheLookups.labels({ result: 'hit' });
  const hitSeriesByLabels = new Map<
    string,
    {
      readonly total: { inc(): void };
      readonly duration: { observe(value: number): void };
    }
  >();
  const hitSeries = (realm: string, operation: string) => {
    const key = `${realm}\n${operation}`;
    let series = hitSeriesByLabels.get(key);
    if (!series) {
      const labels = { realm, operation, outcome: 'success' };
      series = {
        total: metrics.requests.total.labels(labels),
        duration: metrics.requests.durationSeconds.labels(labels),
      };
      hitSeriesByLabels.set(key, series);
    }
    return series;
  };
  const trustedProxies = new Set(options.trustedProxies);
  const router = new RealmRouter(options.catalog, trustedProxies);
  // HTTP requests only: a WebSocket verifies its token once per connection.
  const verifier = withVerifiedTokenCache(options.verifier);
  const running = await startServiceHttpServer<GatewayContext>(
    {
      apollo,
      logger: options.logger,
      serviceName: 'gateway',
      maxBodyBytes: options.maxBodyBytes,
      routes: { '/metrics': metrics.route() },
      ...(readCache
        ? {
            shortcut: readShortcut(readCache.caches.responses, {
              version: configVersion,
              onHit: ({ context, operationName, seconds }) => {
                cacheHits.inc();
                const realm = realmLabel(
                  context.realm?.id,
                  options.catalog().realmIds,
                );
                const operation = operationName
                  ? metrics.requests.operationNames.of(operationName)
                  : 'anonymous';
                const series = hitSeries(realm, operation);
                series.total.inc();
                series.duration.observe(seconds);
              },
            }),
          }
        : {}),
      readiness: () => readiness(options),
      context: async ({ raw, requestId }) => {
        const resolution = router.resolve(raw);
        if (!resolution.ok) {
          return noRealmContext(
            requestId,
            options.logger.child({ requestId }),
            resolution.error,
          );
        }
        const realm = resolution.realm;
        const identity = await authenticate(raw, realm.id, verifier).catch(
          (error: unknown) => {
            throw error instanceof GraphQLError ? failingRequest(error) : error;
          },
        );
        return realmContext({
          realm,
          identity,
          requestId,
          logger: options.logger,
          signer: options.signer,
          clientAddress: clientAddress(raw, trustedProxies),
        });
      },
    },
    port,
    host,
  );

  const subscriptions = options.changeFeed
    ? attachSubscriptionServer({
        server: running.server,
        path: '/graphql',
        apollo,
        schema: () => {
          if (!apiSchema)
            throw new Error('The gateway has not loaded its schema yet.');
          return apiSchema;
        },
        catalog: options.catalog,
        router,
        verifier: options.verifier,
        signer: options.signer,
        store: options.changeFeed.store,
        bus: options.changeFeed.bus,
        logger: options.logger,
        metrics: metrics.gateway,
        validationRules: limits.validationRules,
        maxTokens: REQUEST_LIMITS.maxTokens,
        maxMessageBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
        ...options.subscriptionLimits,
        context: ({ realm, identity, requestId }) =>
          realmContext({
            realm,
            identity,
            requestId,
            logger: options.logger,
            signer: options.signer,
          }),
      })
    : null;

  return {
    ...running,
    close: async () => {
      stopFollowingConfig?.();
      await readCache?.stop();
      await subscriptions?.close();
      await running.close();
      await apollo.stop();
    },
  };
}

/**
 * The caller's address, for the audit log: the socket's remote address,
 * or, when that is a trusted proxy, the first `X-Forwarded-For` entry (the
 * client as the outermost proxy saw it). A client's own header is ignored,
 * as the realm header is: only a trusted proxy's is believed.
 */
export function clientAddress(
  request: IncomingMessage,
  trustedProxies: ReadonlySet<string>,
): string | null {
  const remote = request.socket.remoteAddress ?? null;
  if (remote === null || !trustedProxies.has(remote)) return remote;

  const header = request.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header[0] : header)
    ?.split(',')[0]
    ?.trim();
  return forwarded || remote;
}

/**
 * The context of a request whose realm is known. Its logger carries the
 * request id and realm; it is made on first use, as most requests (a
 * read cache hit above all) never log.
 */
export function realmContext(parts: {
  realm: RealmConfig;
  identity: Identity | null;
  requestId: string;
  /** The service's logger; the request's is a child of it. */
  logger: Logger;
  signer: IdentitySigner;
  /** The caller's address, signed along for the audit log. */
  clientAddress?: string | null;
}): GatewayContext {
  const { realm, identity, requestId, signer } = parts;
  const clientAddress = parts.clientAddress ?? null;
  let signed: Promise<string> | undefined;
  let logger: Logger | undefined;
  return {
    requestId,
    get logger() {
      return (logger ??= parts.logger.child({ requestId, realm: realm.id }));
    },
    realm,
    realmError: null,
    identity,
    forwardedIdentity: () =>
      (signed ??= signer.sign({
        identity,
        realm: realm.id,
        requestId,
        clientAddress,
      })),
  };
}

/** Sandbox starts with this header, so its first query has a realm. */
const REALM_HEADER_FOR_SANDBOX = 'X-Client-ID';

function noRealmContext(
  requestId: string,
  logger: Logger,
  error: GraphQLError,
): GatewayContext {
  return {
    requestId,
    logger,
    realm: null,
    realmError: error,
    identity: null,
    forwardedIdentity: () => Promise.reject(error),
  };
}

async function readiness(
  options: GatewayOptions,
): Promise<Record<string, DependencyState>> {
  const checks: [string, Promise<DependencyState>][] = Object.entries(
    options.subgraphUrls,
  ).map(([name, url]) => [`subgraph:${name}`, subgraphReady(url)]);
  for (const [name, check] of Object.entries(options.dependencies ?? {})) {
    checks.push([name, dependencyState(check)]);
  }
  const states: Record<string, DependencyState> = {};
  for (const [name, check] of checks) states[name] = await check;
  return states;
}

/**
 * A subgraph is ready when its own `/health/ready` says so (its store
 * answers too); `detail` says why not, without anything it said itself
 * beyond the names of its failing dependencies.
 */
async function subgraphReady(graphqlUrl: string): Promise<DependencyState> {
  try {
    const response = await fetch(new URL('/health/ready', graphqlUrl), {
      signal: AbortSignal.timeout(SUBGRAPH_HEALTH_TIMEOUT_MS),
    });
    if (response.ok) return { ok: true };
    const body = (await response.json().catch(() => null)) as {
      dependencies?: Record<string, { ok?: boolean }>;
    } | null;
    const failing = Object.entries(body?.dependencies ?? {})
      .filter(([, state]) => state.ok !== true)
      .map(([name]) => name);
    return {
      ok: false,
      detail: failing.length
        ? `not ready: ${failing.join(', ')}`
        : `HTTP ${response.status}`,
    };
  } catch (error) {
    return { ok: false, detail: unreachable(error) };
  }
}

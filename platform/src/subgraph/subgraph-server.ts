import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import type { DocumentNode, GraphQLFieldResolver } from 'graphql';
import type { Logger } from 'pino';
import { WriteAttempt } from '../audit/write-attempt.js';
import {
  errorReportingPlugin,
  formatClientError,
} from '../errors/error-reporting.js';
import { unauthenticated } from '../errors/graphql-errors.js';
import {
  IDENTITY_HEADER,
  type ForwardedIdentity,
  type IdentitySigner,
} from '../identity/forwarded-identity.js';
import type { Identity } from '../identity/identity.js';
import {
  dependencyState,
  headerValue,
  startServiceHttpServer,
  type RunningServer,
} from '../http/service-http-server.js';
import type { PreferenceService } from '../preferences/preference-service.js';
import { requestMetricsPlugin } from '../metrics/request-metrics-plugin.js';
import { ServiceMetrics } from '../metrics/service-metrics.js';
import type { ConfigAdmin } from '../realm-config/config-admin.js';
import type { UserAdmin } from '../admin/user-admin.js';
import { DISABLED_USER_MESSAGE } from '../identity/user-access.js';

/** What every subgraph resolver receives. */
export interface SubgraphContext {
  readonly requestId: string;
  readonly logger: Logger;
  /**
   * What the gateway verified and signed about this request, including
   * the caller's address (`forwarded.clientAddress`).
   */
  readonly forwarded: ForwardedIdentity;
  /**
   * The preference service; inside a mutation resolver, one bound to the
   * mutation's {@link WriteAttempt}, so its writes are audited with the
   * caller's roles and address.
   */
  readonly preferences: PreferenceService;
  /** The caller; throws UNAUTHENTICATED for an anonymous request. */
  readonly requireIdentity: () => Identity;
  /** Per-request memo, e.g. for DataLoaders. */
  readonly memo: Map<string, unknown>;
  /**
   * Set inside mutation resolvers of a signed-in caller only: the write
   * being followed for the audit log. `targetPreference` notes the target
   * on it.
   */
  readonly writeAttempt?: WriteAttempt;
  /** Configuration changes at run time (the admin API); absent in harnesses. */
  readonly configuration?: ConfigAdmin;
  /** User management, overview and usage (the admin API); absent in harnesses. */
  readonly userAdmin?: UserAdmin;
}

export interface SubgraphDefinition {
  /** The subgraph's name in the supergraph, e.g. `sports`. */
  readonly name: string;
  readonly typeDefs: DocumentNode;
  readonly resolvers: GraphQLResolverMap<SubgraphContext>;
}

export interface SubgraphDependencies {
  readonly preferences: PreferenceService;
  readonly signer: IdentitySigner;
  readonly logger: Logger;
  /** Whether the state store answers, for `/health/ready`. */
  readonly storeReady: () => Promise<boolean>;
  /**
   * Where the subgraph's metrics go (served at `/metrics`). Default: a
   * registry of its own, with `service` = `<name>-subgraph`.
   */
  readonly metrics?: ServiceMetrics;
  /** Configuration changes at run time, for the admin API. */
  readonly configuration?: ConfigAdmin;
  /**
   * User management for the admin API. Its access registry also refuses
   * requests of disabled users here, whatever the gateway let through.
   */
  readonly userAdmin?: UserAdmin;
}

type SubgraphResolver = GraphQLFieldResolver<unknown, SubgraphContext>;

/**
 * Follows one mutation resolver for the audit log. Every mutation of a
 * subgraph is a preference write: the resolver gets a context with a
 * {@link WriteAttempt} and a preference service bound to it. Refusals the
 * write path did not record itself (access to the target, a division's
 * own checks) are recorded here before the error goes out. Anonymous
 * callers are not followed: they are refused before anything is named.
 */
function auditedMutation(resolve: SubgraphResolver): SubgraphResolver {
  return async (source, args, context, info) => {
    const identity = context.forwarded.identity;
    if (!identity) return resolve(source, args, context, info);

    const attempt = new WriteAttempt({
      actor: identity.userId,
      actorRoles: [...identity.roles],
      requestRealm: context.forwarded.realm,
      requestId: context.requestId,
      clientAddress: context.forwarded.clientAddress ?? null,
    });
    const scoped: SubgraphContext = {
      ...context,
      preferences: context.preferences.forAttempt(attempt),
      writeAttempt: attempt,
    };
    try {
      return await resolve(source, args, scoped, info);
    } catch (error) {
      const refusal = attempt.unrecordedRefusal(error);
      if (refusal) await scoped.preferences.recordRefusal(refusal);
      throw error;
    }
  };
}

/** The resolver map with every `Mutation` field audited. */
function withAuditedMutations(
  resolvers: GraphQLResolverMap<SubgraphContext>,
): GraphQLResolverMap<SubgraphContext> {
  const mutation = resolvers['Mutation'] as
    Record<string, SubgraphResolver | { resolve?: unknown }> | undefined;
  if (!mutation) return resolvers;

  const audited = Object.fromEntries(
    Object.entries(mutation).map(([field, resolver]) => [
      field,
      typeof resolver === 'function' ? auditedMutation(resolver) : resolver,
    ]),
  );
  return {
    ...resolvers,
    Mutation: audited,
  } as GraphQLResolverMap<SubgraphContext>;
}

/**
 * The subgraph's Apollo server, without HTTP. Its mutations are audited
 * (see {@link auditedMutation}). `plugins` come after the standard ones
 * (the metrics plugin, when served over HTTP).
 */
export function createSubgraphApollo(
  definition: SubgraphDefinition,
  logger?: Logger,
  plugins: readonly ApolloServerPlugin<SubgraphContext>[] = [],
): ApolloServer<SubgraphContext> {
  const production = process.env['NODE_ENV'] === 'production';
  return new ApolloServer<SubgraphContext>({
    schema: buildSubgraphSchema({
      typeDefs: definition.typeDefs,
      // Apollo types resolver maps with an unknown context; ours is typed.
      resolvers: withAuditedMutations(
        definition.resolvers,
      ) as GraphQLResolverMap<unknown>,
    }),
    introspection: !production,
    includeStacktraceInErrorResponses: false,
    formatError: formatClientError,
    ...(logger ? { logger } : {}),
    // Inline traces only serve Apollo's usage reporting, which Realms never
    // turns on; building them would cost every request.
    plugins: [
      errorReportingPlugin<SubgraphContext>(),
      ApolloServerPluginInlineTraceDisabled(),
      ...plugins,
    ],
  });
}

/**
 * Starts one subgraph on its own port. Every request must carry the
 * identity the gateway signed; without it the context is refused, so a
 * direct call reaches no data.
 */
export async function startSubgraph(
  definition: SubgraphDefinition,
  deps: SubgraphDependencies,
  port: number,
  host?: string,
): Promise<RunningServer> {
  const logger = deps.logger.child({ subgraph: definition.name });
  const metrics =
    deps.metrics ?? new ServiceMetrics(`${definition.name}-subgraph`);
  const apollo = createSubgraphApollo(definition, logger, [
    requestMetricsPlugin<SubgraphContext>({
      metrics: metrics.requests,
      // Signed by the gateway, which routed the request to this realm.
      realmOf: (context) => context.forwarded.realm,
      knownRealms: () => deps.preferences.catalog.realmIds,
    }),
  ]);
  await apollo.start();

  const running = await startServiceHttpServer(
    {
      apollo,
      logger,
      serviceName: `${definition.name}-subgraph`,
      routes: { '/metrics': metrics.route() },
      readiness: async () => ({
        store: await dependencyState(deps.storeReady),
      }),
      context: async ({ raw, requestId }) => {
        const forwarded = await deps.signer.verify(
          headerValue(raw, IDENTITY_HEADER),
        );
        const caller = forwarded.identity;
        if (caller && deps.userAdmin?.isDisabled(caller.realm, caller.userId))
          throw unauthenticated(DISABLED_USER_MESSAGE);
        return {
          requestId: forwarded.requestId || requestId,
          logger: logger.child({ requestId: forwarded.requestId || requestId }),
          forwarded,
          preferences: deps.preferences,
          ...(deps.configuration ? { configuration: deps.configuration } : {}),
          ...(deps.userAdmin ? { userAdmin: deps.userAdmin } : {}),
          memo: new Map(),
          requireIdentity: () => {
            if (!forwarded.identity)
              throw unauthenticated('Sign in first: send a realm token.');
            return forwarded.identity;
          },
        };
      },
    },
    port,
    host,
  );
  return {
    ...running,
    close: async () => {
      await running.close();
      await apollo.stop();
    },
  };
}

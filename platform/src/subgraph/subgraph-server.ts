import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import type { DocumentNode } from 'graphql';
import type { Logger } from 'pino';
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
  headerValue,
  startServiceHttpServer,
  type RunningServer,
} from '../http/service-http-server.js';
import type { PreferenceService } from '../preferences/preference-service.js';

/** What every subgraph resolver receives. */
export interface SubgraphContext {
  readonly requestId: string;
  readonly logger: Logger;
  /** What the gateway verified and signed about this request. */
  readonly forwarded: ForwardedIdentity;
  readonly preferences: PreferenceService;
  /** The caller; throws UNAUTHENTICATED for an anonymous request. */
  readonly requireIdentity: () => Identity;
  /** Per-request memo, e.g. for DataLoaders. */
  readonly memo: Map<string, unknown>;
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
}

/** The subgraph's Apollo server, without HTTP. */
export function createSubgraphApollo(
  definition: SubgraphDefinition,
  logger?: Logger,
): ApolloServer<SubgraphContext> {
  const production = process.env['NODE_ENV'] === 'production';
  return new ApolloServer<SubgraphContext>({
    schema: buildSubgraphSchema({
      typeDefs: definition.typeDefs,
      // Apollo types resolver maps with an unknown context; ours is typed.
      resolvers: definition.resolvers as GraphQLResolverMap<unknown>,
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
  const apollo = createSubgraphApollo(definition, logger);
  await apollo.start();

  const running = await startServiceHttpServer(
    {
      apollo,
      logger,
      readiness: async () => ({
        store: { ok: await deps.storeReady().catch(() => false) },
      }),
      context: async ({ raw, requestId }) => {
        const forwarded = await deps.signer.verify(
          headerValue(raw, IDENTITY_HEADER),
        );
        return {
          requestId: forwarded.requestId || requestId,
          logger: logger.child({ requestId: forwarded.requestId || requestId }),
          forwarded,
          preferences: deps.preferences,
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

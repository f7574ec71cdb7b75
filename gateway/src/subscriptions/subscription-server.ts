import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { ApolloServer } from '@apollo/server';
import {
  getOperationAST,
  GraphQLError,
  OperationTypeNode,
  parse,
  specifiedRules,
  validate,
  type ExecutionArgs,
  type ValidationRule,
  type GraphQLSchema,
} from 'graphql';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import {
  CLOSE_CODES,
  DISABLED_USER_MESSAGE,
  MAX_JSON_NESTING,
  nestingExceeds,
  realmsError,
  type ChangeBus,
  type GatewayMetrics,
  type Identity,
  type IdentitySigner,
  type Logger,
  type PreferenceCatalog,
  type PreferenceStore,
  type RealmConfig,
  type RealmTokenVerifier,
} from '@realms/platform';
import { verifyBearer } from '../auth/authenticate.js';
import type { RealmRouter } from '../realm-routing/realm-router.js';
import type { GatewayContext } from '../gateway-server.js';
import { batchSends } from './batched-sends.js';
import { ChangeRenderer, type FederatedQuery } from './change-renderer.js';
import { configChangeFeed } from './config-feed.js';
import { readFeedRequest, type FeedRequest } from './feed-request.js';
import { ChangeTails } from './realm-change-tail.js';
import {
  ExecutionGroups,
  ExecutionGroup,
  groupKey,
} from './shared-executions.js';
import { SubscriberFeed } from './subscriber-feed.js';
import { SubscriptionMetrics } from './subscription-metrics.js';

export interface SubscriptionServerOptions extends SubscriberLimits {
  readonly server: Server;
  readonly path: string;
  readonly apollo: ApolloServer<GatewayContext>;
  /** The API schema the gateway serves (it can change at run time). */
  readonly schema: () => GraphQLSchema;
  readonly catalog: () => PreferenceCatalog;
  readonly router: RealmRouter;
  readonly verifier: RealmTokenVerifier;
  readonly signer: IdentitySigner;
  readonly store: PreferenceStore;
  readonly bus: ChangeBus;
  readonly logger: Logger;
  /** Where open subscriptions, deliveries and sync latency are counted. */
  readonly metrics?: GatewayMetrics;
  readonly context: (parts: {
    realm: RealmConfig;
    identity: Identity | null;
    requestId: string;
  }) => GatewayContext;
  /** The same limits HTTP operations get (depth, aliases, cost, …). */
  readonly validationRules: readonly ValidationRule[];
  /** Lexical tokens one operation may have. */
  readonly maxTokens: number;
  /** Largest message a client may send. */
  readonly maxMessageBytes: number;
}

/** When a subscriber counts as slow and its connection is closed. */
export interface SubscriberLimits {
  /** Results waiting per subscription. */
  readonly maxQueuedResults?: number;
  /** Unsent bytes per connection. */
  readonly maxBufferedBytes?: number;
}

/** What a connection established at `ConnectionInit`. */
type ConnectionState = {
  realm?: RealmConfig;
  credentials?: unknown;
};

/** What one operation on a connection runs with. */
interface OperationContext {
  readonly gateway: GatewayContext;
  readonly feed: FeedRequest | null;
  readonly extra: Extra & ConnectionState;
}

const DEFAULT_MAX_QUEUED_RESULTS = 1_000;
const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * The graphql-ws endpoint of the gateway, on the same path as HTTP. The
 * realm comes from the upgrade request by the same rules as HTTP; the
 * token from `connectionParams.authorization` ("Bearer …"), verified on
 * connection and again on every subscribe. Queries and mutations run
 * through the gateway as over HTTP; subscriptions are served here, from
 * the change log and bus, with their `preference` resolved through the
 * federated graph.
 */
export function attachSubscriptionServer(options: SubscriptionServerOptions) {
  const logger = options.logger.child({ component: 'subscriptions' });
  const tails = new ChangeTails(options.store, options.bus, logger);
  const groups = new ExecutionGroups();
  const measured = new SubscriptionMetrics(
    options.metrics,
    () => options.catalog().realmIds,
  );
  const maxQueued = options.maxQueuedResults ?? DEFAULT_MAX_QUEUED_RESULTS;
  const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const webSockets = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxMessageBytes,
  });

  options.server.on('upgrade', (request, socket, head) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path !== options.path) {
      socket.destroy();
      return;
    }
    webSockets.handleUpgrade(request, socket, head, (ws) => {
      batchSends(ws, socket);
      webSockets.emit('connection', ws, request);
    });
  });

  const authenticate = async (extra: Extra & ConnectionState) => {
    if (!extra.realm)
      throw realmsError('UNKNOWN_REALM', 'The connection has no realm.');
    return verifyBearer(extra.credentials, extra.realm.id, options.verifier);
  };

  const server = useServer<
    Record<string, unknown> | undefined,
    ConnectionState
  >(
    {
      onConnect: async (ctx) => {
        const resolution = options.router.resolve(ctx.extra.request);
        if (!resolution.ok) {
          ctx.extra.socket.close(
            CLOSE_CODES.UNKNOWN_REALM.code,
            closeReason(resolution.error.message),
          );
          return false;
        }
        ctx.extra.realm = resolution.realm;
        ctx.extra.credentials =
          ctx.connectionParams?.['authorization'] ??
          ctx.connectionParams?.['Authorization'];
        try {
          await authenticate(ctx.extra);
          return true;
        } catch (error) {
          ctx.extra.socket.close(
            CLOSE_CODES.UNAUTHORIZED.code,
            closeReason((error as Error).message),
          );
          return false;
        }
      },

      onSubscribe: async (ctx, _id, payload) => {
        if (nestingExceeds(payload.variables, MAX_JSON_NESTING)) {
          return [
            realmsError(
              'BAD_REQUEST',
              `Variables are nested deeper than ${MAX_JSON_NESTING} levels.`,
            ),
          ];
        }
        const schema = options.schema();
        let document;
        try {
          document = parse(payload.query, { maxTokens: options.maxTokens });
        } catch (error) {
          return [error as GraphQLError];
        }
        const invalid = validate(schema, document, [
          ...specifiedRules,
          ...options.validationRules,
        ]);
        if (invalid.length > 0) return invalid;
        const operation = getOperationAST(document, payload.operationName);
        if (!operation)
          return [realmsError('BAD_USER_INPUT', 'No operation to run.')];

        try {
          // Checked on every subscribe, not only on connection: a token
          // can expire while the socket stays open.
          const identity = await authenticate(ctx.extra);
          const realm = ctx.extra.realm as RealmConfig;
          const variables = payload.variables ?? {};
          const gateway = options.context({
            realm,
            identity,
            requestId: randomUUID(),
          });
          const feed =
            operation.operation === OperationTypeNode.SUBSCRIPTION
              ? readFeedRequest({
                  schema,
                  document,
                  operation,
                  variables,
                  realm: realm.id,
                  identity,
                  catalog: options.catalog(),
                })
              : null;
          const contextValue: OperationContext = {
            gateway,
            feed,
            extra: ctx.extra,
          };
          return {
            schema,
            document,
            operationName: payload.operationName ?? null,
            variableValues: variables,
            contextValue,
          } satisfies ExecutionArgs;
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
      },

      execute: async (args) => {
        const context = args.contextValue as OperationContext;
        const response = await options.apollo.executeOperation(
          {
            query: payloadQuery(args),
            variables: args.variableValues ?? {},
            operationName: args.operationName ?? undefined,
          },
          { contextValue: context.gateway },
        );
        return response.body.kind === 'single'
          ? (response.body.singleResult as never)
          : {
              errors: [
                realmsError(
                  'BAD_USER_INPUT',
                  'Incremental delivery is not served over WebSocket.',
                ),
              ],
            };
      },

      subscribe: async (args) => {
        const context = args.contextValue as OperationContext;
        const feed = context.feed as FeedRequest;
        const operation = getOperationAST(args.document, args.operationName);
        if (!operation)
          return {
            errors: [realmsError('BAD_USER_INPUT', 'No operation to run.')],
          };

        const variables = (args.variableValues ?? {}) as Record<
          string,
          unknown
        >;
        if (feed.kind === 'config') {
          return measured.track(
            feed,
            await configChangeFeed({
              bus: options.bus,
              feed,
              schema: args.schema,
              document: args.document,
              operationName: args.operationName,
              variables,
              onOverflow: () => closeSlowConsumer(context.extra),
            }),
          ) as never;
        }
        const renderer = new ChangeRenderer(
          args.document,
          operation,
          feed.field,
          feed.responseKey,
          variables,
        );
        const key = groupKey({
          query: payloadQuery(args),
          operationName: args.operationName,
          variables,
          scope: feed.scope,
        });
        const group = groups.join(
          key,
          () =>
            new ExecutionGroup(
              key,
              renderer,
              federated(options, context.gateway),
            ),
        );
        const subscriber = new SubscriberFeed({
          feed,
          group,
          tails,
          store: options.store,
          maxQueued,
          onOverflow: () => closeSlowConsumer(context.extra),
          onEnd: () => groups.leave(group),
          onLiveResult: (event) => measured.synced(event),
        });
        try {
          await subscriber.start();
        } catch (error) {
          if (error instanceof GraphQLError) return { errors: [error] };
          throw error;
        }
        return measured.track(feed, subscriber) as never;
      },

      onNext: (ctx, _id, _payload, args) => {
        const { feed, gateway } = args.contextValue as OperationContext;
        // A user disabled since subscribing gets nothing more.
        if (gateway.identity && !options.verifier.stillAdmits(gateway.identity))
          ctx.extra.socket.close(
            CLOSE_CODES.UNAUTHORIZED.code,
            DISABLED_USER_MESSAGE,
          );
        if (feed) measured.delivered(feed);
        if (ctx.extra.socket.bufferedAmount > maxBuffered)
          closeSlowConsumer(ctx.extra);
      },
    },
    webSockets,
  );

  function closeSlowConsumer(extra: Extra) {
    logger.warn(
      { realm: (extra as ConnectionState).realm?.id },
      'closing a slow subscriber',
    );
    extra.socket.close(
      CLOSE_CODES.SLOW_CONSUMER.code,
      'Send buffer full: reconnect and resume with the last cursor.',
    );
  }

  return {
    /** Subscription groups in use (for tests and metrics). */
    get groupCount() {
      return groups.size;
    },
    close: async () => {
      await server.dispose();
      webSockets.close();
    },
  };
}

/** Runs a federated query as the subscriber, with a fresh request id. */
function federated(
  options: SubscriptionServerOptions,
  context: GatewayContext,
): FederatedQuery {
  return async (query, variables) => {
    const requestContext = options.context({
      realm: context.realm as RealmConfig,
      identity: context.identity,
      requestId: randomUUID(),
    });
    const response = await options.apollo.executeOperation(
      { query, variables },
      { contextValue: requestContext },
    );
    if (response.body.kind !== 'single')
      return { errors: [{ message: 'Unexpected incremental result.' }] };
    const { data, errors } = response.body.singleResult;
    return {
      data: (data as Record<string, unknown> | null | undefined) ?? null,
      ...(errors ? { errors } : {}),
    };
  };
}

/** The operation text graphql-ws parsed, kept for Apollo's own pipeline. */
function payloadQuery(args: ExecutionArgs): string {
  return args.document.loc?.source.body ?? '';
}

/** WebSocket close reasons are limited to 123 bytes of UTF-8. */
function closeReason(message: string): string {
  const bytes = Buffer.from(message, 'utf8');
  if (bytes.length <= 123) return message;
  // Cut on a character boundary, then mark the cut.
  return `${new TextDecoder().decode(bytes.subarray(0, 118)).replace(/\uFFFD+$/, '')}…`;
}

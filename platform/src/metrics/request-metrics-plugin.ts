import type {
  ApolloServerPlugin,
  BaseContext,
  GraphQLResponse,
} from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';
import { ERROR_CODES } from '../errors/error-codes.js';
import { OTHER_LABEL, realmLabel, UNKNOWN_REALM_LABEL } from './labels.js';
import type { RequestMetrics, RequestOutcome } from './service-metrics.js';

export interface RequestMetricsPluginOptions<TContext extends BaseContext> {
  readonly metrics: RequestMetrics;
  /** The realm a request was made in, when it is known. */
  readonly realmOf: (context: TContext) => string | null | undefined;
  /** Realm ids of the catalog in force; any other realm is `unknown`. */
  readonly knownRealms: () => readonly string[];
}

/** The `operation` label of an operation without a name. */
const ANONYMOUS_OPERATION = 'anonymous';
/** The `operation` label of a request refused before it was read. */
const UNREAD_OPERATION = 'unknown';

/**
 * Counts and times every GraphQL operation of a service by realm,
 * operation name and outcome, and counts the errors its clients get by
 * `extensions.code`. Runs on the gateway and on every subgraph; what it
 * sees are the responses as sent, after error formatting, so the codes
 * are the ones clients see.
 *
 * A request refused while its context is built (a token that does not
 * verify) never starts an operation: it is counted, with operation
 * `unknown`, but not timed, so the duration histogram's count can be
 * lower than the request counter's.
 */
export function requestMetricsPlugin<TContext extends BaseContext>(
  options: RequestMetricsPluginOptions<TContext>,
): ApolloServerPlugin<TContext> {
  const { metrics } = options;
  return {
    async contextCreationDidFail({ error }) {
      metrics.total.inc({
        realm: UNKNOWN_REALM_LABEL,
        operation: UNREAD_OPERATION,
        outcome: 'error',
      });
      const code = (error as { extensions?: Record<string, unknown> })
        .extensions?.['code'];
      metrics.errors.inc({ code: errorCodeLabel(code) });
    },

    async requestDidStart() {
      const started = performance.now();
      return {
        async willSendResponse({
          response,
          contextValue,
          operationName,
          request,
        }) {
          const seconds = (performance.now() - started) / 1000;
          const { outcome, errors } = outcomeOf(response);
          const name = operationName ?? request.operationName;
          const labels = {
            realm: realmLabel(
              options.realmOf(contextValue),
              options.knownRealms(),
            ),
            operation: name
              ? metrics.operationNames.of(name)
              : ANONYMOUS_OPERATION,
            outcome,
          };
          metrics.total.inc(labels);
          metrics.durationSeconds.observe(labels, seconds);
          for (const error of errors) {
            metrics.errors.inc({
              code: errorCodeLabel(error.extensions?.['code']),
            });
          }
        },
      };
    },
  };
}

/** A code from the registry, or `other` (never free text). */
function errorCodeLabel(code: unknown): string {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code)
    ? code
    : OTHER_LABEL;
}

function outcomeOf(response: GraphQLResponse): {
  outcome: RequestOutcome;
  errors: readonly GraphQLFormattedError[];
} {
  const result =
    response.body.kind === 'single'
      ? response.body.singleResult
      : response.body.initialResult;
  const errors = result.errors ?? [];
  if (errors.length === 0) return { outcome: 'success', errors };
  const hasData = result.data !== undefined && result.data !== null;
  return { outcome: hasData ? 'partial' : 'error', errors };
}

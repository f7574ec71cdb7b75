import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { ERROR_CODES } from './error-codes.js';

/** Codes raised on purpose, whose message is meant for the client. */
function isExpected(code: unknown): boolean {
  return (
    typeof code === 'string' &&
    code in ERROR_CODES &&
    code !== 'INTERNAL_SERVER_ERROR'
  );
}

/**
 * Hides what a client must not see: an unexpected error keeps only a
 * generic message and the INTERNAL_SERVER_ERROR code (its details are
 * logged by `errorReportingPlugin`), and no error carries a stack trace.
 */
export function formatClientError(
  formatted: GraphQLFormattedError,
): GraphQLFormattedError {
  const extensions = { ...formatted.extensions };
  delete extensions['stacktrace'];
  delete extensions['exception'];
  if (isExpected(extensions['code'])) {
    return { ...formatted, extensions };
  }
  const masked: GraphQLFormattedError = {
    message: 'Internal server error.',
    extensions: { code: 'INTERNAL_SERVER_ERROR' },
  };
  return formatted.path ? { ...masked, path: formatted.path } : masked;
}

/** A context that knows its request id and logger. */
export interface LoggingContext extends BaseContext {
  readonly requestId: string;
  readonly logger: Logger;
}

/**
 * Logs unexpected errors with the request id (expected ones at debug) and
 * puts the request id on every error sent, so a user's report can be
 * matched to the log line.
 */
export function errorReportingPlugin<
  TContext extends LoggingContext,
>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue }) {
          for (const error of errors) {
            const code = error.extensions?.['code'];
            if (isExpected(code)) {
              contextValue.logger.debug(
                { code, msg: error.message },
                'request refused',
              );
            } else {
              contextValue.logger.error(
                { err: error.originalError ?? error, path: error.path },
                'unexpected error',
              );
            }
          }
        },
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind !== 'single') return;
          const errors = response.body.singleResult.errors;
          if (!errors) return;
          response.body.singleResult.errors = errors.map((e) => ({
            ...e,
            extensions: { ...e.extensions, requestId: contextValue.requestId },
          }));
        },
      };
    },
  };
}

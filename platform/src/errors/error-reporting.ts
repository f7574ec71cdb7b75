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

/** "Did you mean …?" hints, which map the schema for whoever probes it. */
const SUGGESTION = /\s*Did you mean [^?]*\?/g;

/**
 * Builds the formatter that hides what a client must not see: an
 * unexpected error keeps only a generic message and the
 * INTERNAL_SERVER_ERROR code (its details are logged by
 * `errorReportingPlugin`), no error carries a stack trace, and with
 * `hideSuggestions` no message suggests field, argument or enum names.
 */
export function clientErrorFormatter(options: { hideSuggestions: boolean }) {
  return (
    formatted: GraphQLFormattedError,
    error?: unknown,
  ): GraphQLFormattedError => {
    const masked = maskUnexpected(withClientCode(formatted, error));
    return options.hideSuggestions
      ? { ...masked, message: masked.message.replace(SUGGESTION, '') }
      : masked;
  };
}

/** The formatter for this process: suggestions hidden in production. */
export const formatClientError = clientErrorFormatter({
  hideSuggestions: process.env['NODE_ENV'] === 'production',
});

/**
 * Apollo refuses some malformed requests (a persisted-query hash that does
 * not match, say) with a 4xx status but no code; they are the client's
 * doing, so they get BAD_REQUEST rather than being masked as internal.
 */
function withClientCode(
  formatted: GraphQLFormattedError,
  error: unknown,
): GraphQLFormattedError {
  // Apollo fills a missing code with INTERNAL_SERVER_ERROR before this runs.
  const code = formatted.extensions?.['code'];
  if (code !== undefined && code !== 'INTERNAL_SERVER_ERROR') return formatted;
  const http = (
    error as { extensions?: { http?: { status?: number } } } | undefined
  )?.extensions?.http;
  const status = http?.status ?? 0;
  if (status < 400 || status >= 500) return formatted;
  return {
    ...formatted,
    extensions: { ...formatted.extensions, code: 'BAD_REQUEST' },
  };
}

function maskUnexpected(
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
            const status =
              (error.extensions?.['http'] as { status?: number } | undefined)
                ?.status ?? 0;
            if (isExpected(code) || (status >= 400 && status < 500)) {
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

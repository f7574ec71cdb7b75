import { GraphQLError } from 'graphql';
import { ERROR_CODES, type ErrorCode } from './error-codes.js';

/** One broken rule of a write, reported to the client. */
export interface Violation {
  /** Path into the operation's input, e.g. `["values", 2, "value"]`. */
  readonly path: readonly (string | number)[];
  /** The preference key the value was for, when there is one. */
  readonly key: string | null;
  /** The rule's name: a JSON Schema keyword, or one of ours (`locked`). */
  readonly rule: string;
  readonly message: string;
}

/**
 * Builds a GraphQL error with a registered code. It carries no HTTP
 * status: an error of one field leaves the response at 200, and a
 * subgraph answering non-200 would hide the error from the gateway.
 */
export function realmsError(
  code: ErrorCode,
  message: string,
  extensions: Record<string, unknown> = {},
): GraphQLError {
  return new GraphQLError(message, { extensions: { ...extensions, code } });
}

/**
 * The same error, marked to fail the whole HTTP request with its code's
 * status (for refusals before execution: no realm, a bad token).
 */
export function failingRequest(error: GraphQLError): GraphQLError {
  const code = errorCodeOf(error) ?? 'INTERNAL_SERVER_ERROR';
  return new GraphQLError(error.message, {
    extensions: {
      ...error.extensions,
      http: { status: ERROR_CODES[code].httpStatus },
    },
  });
}

/**
 * The most violations one error lists. A hostile input with thousands of
 * bad items must not make an answer thousands of times its own size;
 * `violationCount` still tells the total.
 */
export const MAX_LISTED_VIOLATIONS = 100;

export function badUserInput(violations: readonly Violation[]): GraphQLError {
  const count = violations.length;
  const listed = violations.slice(0, MAX_LISTED_VIOLATIONS);
  const summary = listed
    .slice(0, 10)
    .map((v) => v.message)
    .join('; ');
  const more = count > 10 ? `; and ${count - 10} more` : '';
  return realmsError(
    'BAD_USER_INPUT',
    `Invalid input (${count} violation${count === 1 ? '' : 's'}): ${summary}${more}`,
    { violations: listed, violationCount: count },
  );
}

export function conflict(
  expectedVersion: number,
  currentVersion: number,
  currentValues: Record<string, unknown>,
): GraphQLError {
  return realmsError(
    'CONFLICT',
    `Preference changed: expected version ${expectedVersion}, ` +
      `current version is ${currentVersion}. Re-read and retry.`,
    { expectedVersion, currentVersion, currentValues },
  );
}

export function unauthenticated(reason: string): GraphQLError {
  return realmsError('UNAUTHENTICATED', reason);
}

export function forbidden(): GraphQLError {
  return realmsError('FORBIDDEN', 'Not allowed.');
}

export function notFound(what: string): GraphQLError {
  return realmsError('NOT_FOUND', `${what} not found.`);
}

export function unknownRealm(reason: string): GraphQLError {
  return realmsError('UNKNOWN_REALM', reason);
}

/** The code of an error, if it carries a registered one. */
export function errorCodeOf(error: unknown): ErrorCode | null {
  if (!(error instanceof GraphQLError)) return null;
  const code = error.extensions['code'];
  return typeof code === 'string' && code in ERROR_CODES
    ? (code as ErrorCode)
    : null;
}

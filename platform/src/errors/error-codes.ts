/**
 * Every error code a client can see in `extensions.code`, with what it
 * means and the HTTP status it maps to where a whole request fails. This is
 * the one registry: `docs/errors.md` is generated from it (`npm run docs`)
 * and a test fails when the two drift apart.
 */
export const ERROR_CODES = {
  BAD_REQUEST: {
    httpStatus: 400,
    description:
      'The HTTP request itself is malformed: a body that is not JSON, no ' +
      'query, a body over the size limit.',
  },
  GRAPHQL_PARSE_FAILED: {
    httpStatus: 400,
    description: 'The operation is not valid GraphQL syntax.',
  },
  GRAPHQL_VALIDATION_FAILED: {
    httpStatus: 400,
    description:
      'The operation does not fit the schema: an unknown field, a wrong ' +
      'argument, a missing selection.',
  },
  PERSISTED_QUERY_NOT_FOUND: {
    httpStatus: 200,
    description:
      'An automatic persisted query named a hash the gateway does not know ' +
      '(yet): send the same request again with the full query text.',
  },
  PERSISTED_QUERY_NOT_SUPPORTED: {
    httpStatus: 400,
    description:
      'The persisted-query extension was used in a way not supported.',
  },
  OPERATION_RESOLUTION_FAILURE: {
    httpStatus: 400,
    description:
      'The document holds several operations and `operationName` does not ' +
      'pick one of them.',
  },
  BAD_USER_INPUT: {
    httpStatus: 400,
    description:
      'The input broke a validation rule. `extensions.violations` lists ' +
      'every violation (the first 100; `extensions.violationCount` has the ' +
      'total) with its input path, preference key, rule and message. ' +
      'Nothing was stored.',
  },
  CONFLICT: {
    httpStatus: 409,
    description:
      'The write named an `expectedVersion` that is no longer current. ' +
      '`extensions.currentVersion` and `extensions.currentValues` carry the ' +
      'stored state to merge against. Nothing was stored.',
  },
  UNAUTHENTICATED: {
    httpStatus: 401,
    description:
      'No valid token: missing, expired, not yet valid, signed by a key the ' +
      "realm does not trust, or issued for another realm's audience.",
  },
  FORBIDDEN: {
    httpStatus: 403,
    description:
      'The caller is authenticated but its roles do not allow the ' +
      'operation. Says nothing about whether the target exists.',
  },
  NOT_FOUND: {
    httpStatus: 404,
    description:
      'The target does not exist, for a caller allowed to know that ' +
      '(a platform admin asking for an unknown realm, say).',
  },
  UNKNOWN_REALM: {
    httpStatus: 421,
    description:
      'The request could not be tied to a realm: its host name is not a ' +
      'realm domain and it did not come through a trusted proxy that named ' +
      'a known realm. Requests are never defaulted to a realm.',
  },
  CURSOR_EXPIRED: {
    httpStatus: 410,
    description:
      'A subscription asked to resume after a cursor whose changes were ' +
      'already trimmed from the change log. Re-read the current state, ' +
      'then subscribe again without `after`.',
  },
  SUBGRAPH_UNAVAILABLE: {
    httpStatus: 502,
    description:
      'A subgraph did not answer. Only the fields it serves are null; ' +
      '`extensions.serviceName` names it, and the rest of the response ' +
      'stands.',
  },
  INTERNAL_SERVER_ERROR: {
    httpStatus: 500,
    description:
      'Something failed on the server. The response holds no details; ' +
      'the log has them under the request id in `extensions.requestId`.',
  },
} as const satisfies Record<
  string,
  { readonly httpStatus: number; readonly description: string }
>;

export type ErrorCode = keyof typeof ERROR_CODES;

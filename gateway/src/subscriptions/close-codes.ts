/**
 * WebSocket close codes Realms uses on the subscription endpoint, beside
 * the graphql-ws protocol's own (4400 bad request, 4401 unauthorized,
 * 4403 forbidden, 4408 init timeout, 4409 duplicate id, 4429 too many
 * init requests, 4500 internal error).
 */
export const CLOSE_CODES = {
  /** The request's realm could not be decided (unknown host or header). */
  UNKNOWN_REALM: 4421,
  /** The token in connectionParams is missing its realm's trust. */
  UNAUTHORIZED: 4401,
  /**
   * The client did not read its messages fast enough: its send buffer
   * passed the bound. Reconnect and resume with the last cursor received.
   */
  SLOW_CONSUMER: 4413,
} as const;

/**
 * WebSocket close codes of the subscription endpoint that are Realms' own,
 * beside those of the graphql-ws protocol (4400 bad request, 4401
 * unauthorized, 4403 forbidden, 4408 init timeout, 4409 duplicate id,
 * 4429 too many init requests, 4500 internal error). `docs/errors.md`
 * lists them, generated from here.
 */
export const CLOSE_CODES = {
  UNAUTHORIZED: {
    code: 4401,
    description:
      'The token in `connectionParams.authorization` is missing its ' +
      "realm's trust (expired, wrong key, another realm's), or its user was " +
      'disabled in the realm (also closing a connection that was open). ' +
      'Get a new token and reconnect.',
  },
  SLOW_CONSUMER: {
    code: 4413,
    description:
      'The client did not read its messages fast enough and its send ' +
      'buffer passed the bound. Reconnect and resume each subscription ' +
      'with `after:` the last cursor received.',
  },
  UNKNOWN_REALM: {
    code: 4421,
    description:
      'The connection could not be tied to a realm (unknown host name, or ' +
      'a realm header not from a trusted proxy).',
  },
} as const;

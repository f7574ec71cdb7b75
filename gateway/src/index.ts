export * from './gateway-server.js';
export * from './realm-routing/realm-router.js';
export * from './auth/authenticate.js';
export * from './supergraph/compose.js';
export {
  decodeAllRealmsCursor,
  encodeAllRealmsCursor,
} from './subscriptions/all-realms-cursor.js';
export * from './subscriptions/subscription-reporter.js';

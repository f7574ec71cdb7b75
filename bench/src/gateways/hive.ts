// Hive Gateway (@graphql-hive/gateway), programmatic, with only what a user
// must add for Realms subgraphs: a plugin that verifies the caller's token
// once per request, and propagateHeaders to send the signed identity.
// Nothing leaves the machine: the supergraph is a local string (no Hive
// CDN, no GraphOS uplink), `reporting` is not configured (no Hive Console
// or Apollo usage reports), OpenTelemetry is off (no `openTelemetry`
// option), and GraphiQL and the landing page, which load CDN assets in a
// browser, are turned off.
import { createServer } from 'node:http';
import {
  createGatewayRuntime,
  type GatewayPlugin,
} from '@graphql-hive/gateway';
import { GraphQLError } from 'graphql';
import {
  IDENTITY_HEADER,
  REALM_HEADER,
  loadPeer,
  type PeerCaller,
} from './peer-identity.js';

interface Context {
  caller?: PeerCaller;
}

const { settings, identity, supergraphSdl: supergraph } = await loadPeer();

/** Verifies the caller once per request and keeps it on the context. */
const realmAuth: GatewayPlugin<Context> = {
  async onContextBuilding({ context, extendContext }) {
    const { request } = context as { request: Request };
    try {
      extendContext({
        caller: await identity.authenticate(
          request.headers.get(REALM_HEADER),
          request.headers.get('authorization'),
        ),
      });
    } catch (error) {
      throw new GraphQLError((error as Error).message, {
        extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
      });
    }
  },
};

const gateway = createGatewayRuntime<Context>({
  supergraph,
  logging: 'warn',
  landingPage: false,
  graphiql: false,
  plugins: () => [realmAuth],
  propagateHeaders: {
    fromClientToSubgraphs: async ({ context }) =>
      context.caller
        ? { [IDENTITY_HEADER]: await context.caller.forwardedIdentity() }
        : {},
  },
});

const server = createServer(gateway);
server.listen(settings.port, '127.0.0.1', () =>
  console.log(
    `hive-gateway listening at http://127.0.0.1:${settings.port}/graphql`,
  ),
);

const stop = async () => {
  server.close();
  await gateway.dispose();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

// A stock @apollo/gateway in @apollo/server, default settings, with only
// what a user must add for Realms subgraphs: verify the caller's token and
// sign the forwarded identity in willSendRequest. Run by `npm run bench`.
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { GraphQLError } from 'graphql';
import {
  IDENTITY_HEADER,
  REALM_HEADER,
  loadPeer,
  type PeerCaller,
} from './peer-identity.js';

interface Context {
  readonly caller: PeerCaller;
}

const { settings, identity, supergraphSdl } = await loadPeer();

const gateway = new ApolloGateway({
  supergraphSdl,
  buildService: ({ url }) =>
    new RemoteGraphQLDataSource<Context>({
      url,
      async willSendRequest({ request, context }) {
        request.http?.headers.set(
          IDENTITY_HEADER,
          await context.caller.forwardedIdentity(),
        );
      },
    }),
});
const server = new ApolloServer<Context>({ gateway });
const { url } = await startStandaloneServer(server, {
  listen: { port: settings.port, host: '127.0.0.1' },
  context: async ({ req }) => {
    const realm = req.headers[REALM_HEADER];
    try {
      return {
        caller: await identity.authenticate(
          typeof realm === 'string' ? realm : null,
          req.headers.authorization,
        ),
      };
    } catch (error) {
      throw new GraphQLError((error as Error).message, {
        extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
      });
    }
  },
});
console.log(`apollo-stock listening at ${url}`);

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

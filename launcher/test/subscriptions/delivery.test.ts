import {
  ApolloClient,
  gql,
  InMemoryCache,
  type TypedDocumentNode,
} from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createClient } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  startTestSystem,
  type Backend,
  type TestSystem,
} from '../support/test-system.js';
import {
  Collector,
  WsClients,
  webSocketWithHeaders,
  wsUrl,
} from '../support/ws-client.js';
import {
  changesOf,
  latestCursor,
  OWN_CHANGES,
  setLocale,
  setTeams,
  type OwnChangeData,
} from './support.js';

const APOLLO_OWN_CHANGES: TypedDocumentNode<
  OwnChangeData,
  { after: string | null }
> = gql(OWN_CHANGES);

describe.each<Backend>(['memory', 'redis'])(
  'subscription delivery over %s state',
  (backend) => {
    let t: TestSystem;
    const clients = new WsClients(() => t.url);
    const apollos: { stop(): void }[] = [];

    beforeAll(async () => {
      t = await startTestSystem(backend);
    });
    afterEach(async () => {
      for (const apollo of apollos.splice(0)) apollo.stop();
      await clients.disposeAll();
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('delivers an HTTP mutation to graphql-ws and Apollo Client subscribers, with division and global values', async () => {
      const token = await t.token('sports', 'dana');
      // Subscribing from the log's current end: a write made right after
      // cannot race the server's subscribe (it is then replayed, not lost).
      const after = await latestCursor(t, 'sports');

      const ws = clients.connect({ realm: 'sports', token });
      const viaWs = ws.subscribe<OwnChangeData>({
        query: OWN_CHANGES,
        variables: { after },
      });

      const apolloWs = createClient({
        url: wsUrl(t.url),
        webSocketImpl: webSocketWithHeaders({ 'x-client-id': 'sports' }),
        connectionParams: { authorization: `Bearer ${token}` },
        retryAttempts: 0,
      });
      const apollo = new ApolloClient({
        link: new GraphQLWsLink(apolloWs),
        cache: new InMemoryCache(),
      });
      const viaApollo = new Collector<OwnChangeData>();
      const subscription = apollo
        .subscribe({ query: APOLLO_OWN_CHANGES, variables: { after } })
        .subscribe({
          next: (result) =>
            viaApollo.push({
              data: result.data as OwnChangeData | undefined,
              ...(result.error
                ? { errors: [{ message: result.error.message }] }
                : {}),
            }),
          error: (error: unknown) => viaApollo.fail(error),
          complete: () => viaApollo.complete(),
        });
      apollos.push({
        stop: () => {
          subscription.unsubscribe();
          apollo.stop();
          void apolloWs.dispose();
        },
      });

      await setLocale(t, 'sports', token, 'fr-FR');
      const written = await setTeams(t, token, ['harbor-hawks', 'river-rays']);

      for (const collector of [viaWs, viaApollo]) {
        const [localeChange, teamsChange] = changesOf(await collector.take(2));
        expect(localeChange).toMatchObject({
          realmId: 'sports',
          userId: 'dana',
          changedKeys: ['locale'],
          originRealm: 'sports',
          actor: 'dana',
        });
        expect(teamsChange).toMatchObject({
          realmId: 'sports',
          userId: 'dana',
          version: written.version,
          changedKeys: ['sports.favoriteTeams'],
          preference: {
            id: 'sports:dana',
            userId: 'dana',
            sports: { favoriteTeams: ['harbor-hawks', 'river-rays'] },
            values: [{ key: 'locale', value: 'fr-FR' }],
          },
        });
        expect(localeChange?.version).toBe(written.version - 1);
      }
      // Apollo normalised the preference into its cache by id.
      const cached = apollo.cache.extract() as Record<string, unknown>;
      expect(cached['Preference:sports:dana']).toMatchObject({
        id: 'sports:dana',
      });
    });

    it('routes a connection by its Host name like HTTP', async () => {
      const token = await t.token('parks', 'erin');
      const after = await latestCursor(t, 'parks');
      const ws = clients.connect({ host: 'parks.localhost', token });
      const changes = ws.subscribe<OwnChangeData>({
        query: OWN_CHANGES,
        variables: { after },
      });
      await setLocale(t, 'parks', token, 'de-DE');
      const [change] = changesOf(await changes.take(1));
      expect(change).toMatchObject({
        realmId: 'parks',
        userId: 'erin',
        preference: {
          id: 'parks:erin',
          sports: null,
          values: [{ key: 'locale', value: 'de-DE' }],
        },
      });
    });
  },
);

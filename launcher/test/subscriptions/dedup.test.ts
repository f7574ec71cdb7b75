import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  startTestSystem,
  type Backend,
  type TestSystem,
} from '../support/test-system.js';
import { WsClients, type Collector } from '../support/ws-client.js';
import {
  changesOf,
  countSubgraphRequests,
  latestCursor,
  OWN_CHANGES,
  setTeams,
  writeTeamsDirectly,
  type OwnChangeData,
} from './support.js';

const MANY = 25;

describe.each<Backend>(['memory', 'redis'])(
  'shared subscription executions over %s state',
  (backend) => {
    let t: TestSystem;
    const clients = new WsClients(() => t.url);

    beforeAll(async () => {
      // Without the gateway's read cache: it would answer all but the
      // first of several separate executions, hiding a broken grouping.
      t = await startTestSystem(backend, { readCache: false });
    });
    afterEach(() => clients.disposeAll());
    afterAll(async () => {
      await t?.stop();
    });

    /**
     * `count` identical subscribers of one user (each on its own
     * connection: same operation, same variables), all seen live on a
     * warm-up change; then the subgraph requests one change costs until
     * every subscriber has it.
     */
    async function requestsPerEvent(userId: string, count: number) {
      const token = await t.token('sports', userId);
      const after = await latestCursor(t, 'sports');
      const feeds: Collector<OwnChangeData>[] = [];
      for (let i = 0; i < count; i++) {
        const ws = clients.connect({ realm: 'sports', token });
        feeds.push(
          ws.subscribe<OwnChangeData>({
            query: OWN_CHANGES,
            variables: { after },
          }),
        );
      }
      // Every subscriber has the warm-up change, so every one is live.
      await setTeams(t, token, ['warm-up']);
      await Promise.all(feeds.map((feed) => feed.take(1)));

      const requests = countSubgraphRequests(t);
      try {
        await writeTeamsDirectly(t, userId, ['counted']);
        const delivered = await Promise.all(feeds.map((feed) => feed.take(2)));
        for (const results of delivered) {
          const [, change] = changesOf(results);
          expect(change?.preference).toMatchObject({
            id: `sports:${userId}`,
            sports: { favoriteTeams: ['counted'] },
          });
        }
      } finally {
        requests.stop();
      }
      await clients.disposeAll();
      return { counts: { ...requests.counts }, seen: requests.seen };
    }

    it(`costs the same subgraph requests per change for 1 and ${MANY} identical subscribers`, async () => {
      const one = await requestsPerEvent('solo', 1);
      const many = await requestsPerEvent('crowd', MANY);

      // The selection reaches core (preference, values) and sports.
      expect(one.counts['core']).toBeGreaterThanOrEqual(1);
      expect(one.counts['sports']).toBeGreaterThanOrEqual(1);
      expect(many.counts, many.seen.join('\n')).toEqual(one.counts);
    });

    it('never shares an execution between subscribers of different users', async () => {
      const tokens = {
        tara: await t.token('sports', 'tara'),
        uma: await t.token('sports', 'uma'),
      };
      const after = await latestCursor(t, 'sports');
      const feeds = Object.fromEntries(
        Object.entries(tokens).map(([user, token]) => [
          user,
          clients.connect({ realm: 'sports', token }).subscribe<OwnChangeData>({
            query: OWN_CHANGES,
            variables: { after },
          }),
        ]),
      ) as Record<keyof typeof tokens, Collector<OwnChangeData>>;

      await setTeams(t, tokens.tara, ['tara-team']);
      await setTeams(t, tokens.uma, ['uma-team']);
      await setTeams(t, tokens.tara, ['tara-again']);

      const tara = changesOf(await feeds.tara.take(2));
      const [uma] = changesOf(await feeds.uma.take(1));
      expect(tara.map((c) => c.preference)).toMatchObject([
        { id: 'sports:tara', userId: 'tara' },
        {
          id: 'sports:tara',
          userId: 'tara',
          sports: { favoriteTeams: ['tara-again'] },
        },
      ]);
      expect(uma?.preference).toMatchObject({
        id: 'sports:uma',
        userId: 'uma',
        sports: { favoriteTeams: ['uma-team'] },
      });
      expect(feeds.uma.results).toHaveLength(1);
    });
  },
);

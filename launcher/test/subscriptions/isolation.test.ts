import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  startTestSystem,
  type Backend,
  type TestSystem,
} from '../support/test-system.js';
import { WsClients } from '../support/ws-client.js';
import {
  changesOf,
  latestCursor,
  OWN_CHANGES,
  REALM_CHANGES,
  setLocale,
  setPartySize,
  setTeams,
  type OwnChangeData,
  type RealmChangeData,
} from './support.js';

describe.each<Backend>(['memory', 'redis'])(
  'subscription isolation over %s state',
  (backend) => {
    let t: TestSystem;
    const clients = new WsClients(() => t.url);

    beforeAll(async () => {
      t = await startTestSystem(backend);
    });
    afterEach(() => clients.disposeAll());
    afterAll(async () => {
      await t?.stop();
    });

    it("never delivers another realm's changes, even of the same user", async () => {
      const sportsToken = await t.token('sports', 'ivan');
      const parksToken = await t.token('parks', 'ivan');
      const parksOther = await t.token('parks', 'jade');
      const ws = clients.connect({ realm: 'sports', token: sportsToken });
      const changes = ws.subscribe<OwnChangeData>({
        query: OWN_CHANGES,
        variables: { after: await latestCursor(t, 'sports') },
      });

      await setPartySize(t, parksToken, 3);
      await setPartySize(t, parksOther, 4);
      await setTeams(t, sportsToken, ['own-1']);
      // A global key written through parks does change ivan's sports
      // preference: it arrives, as a sports change that came from parks.
      await setLocale(t, 'parks', parksToken, 'it-IT');

      const received = changesOf(await changes.take(2));
      expect(received).toMatchObject([
        { realmId: 'sports', userId: 'ivan', originRealm: 'sports' },
        {
          realmId: 'sports',
          userId: 'ivan',
          originRealm: 'parks',
          changedKeys: ['locale'],
          preference: {
            id: 'sports:ivan',
            values: [{ key: 'locale', value: 'it-IT' }],
          },
        },
      ]);
      expect(changes.results).toHaveLength(2);
    });

    it("never delivers another user's changes", async () => {
      const own = await t.token('sports', 'kim');
      const others = await Promise.all(
        ['lee', 'max'].map((user) => t.token('sports', user)),
      );
      const ws = clients.connect({ realm: 'sports', token: own });
      const changes = ws.subscribe<OwnChangeData>({
        query: OWN_CHANGES,
        variables: { after: await latestCursor(t, 'sports') },
      });

      for (const [i, token] of others.entries()) {
        await setTeams(t, token, [`theirs-${i}`]);
        await setLocale(t, 'sports', token, 'es-ES');
      }
      await setTeams(t, own, ['mine']);
      // A second own change after more of theirs: anything of theirs that
      // leaked would sit before it.
      await setTeams(t, others[0] as string, ['theirs-again']);
      await setTeams(t, own, ['mine-again']);

      const received = changesOf(await changes.take(2));
      expect(received.map((c) => [c.userId, c.preference.id])).toEqual([
        ['kim', 'sports:kim'],
        ['kim', 'sports:kim'],
      ]);
      expect(changes.results).toHaveLength(2);
    });

    it("lets a realm admin watch every user of its realm, and no other realm's", async () => {
      const admin = await t.token('sports', 'nora', ['user', 'realm-admin']);
      const ws = clients.connect({ realm: 'sports', token: admin });
      const realmFeed = ws.subscribe<RealmChangeData>({
        query: REALM_CHANGES,
        variables: { after: await latestCursor(t, 'sports') },
      });

      await setPartySize(t, await t.token('parks', 'otto'), 2);
      await setTeams(t, await t.token('sports', 'otto'), ['a-team']);
      await setTeams(t, await t.token('sports', 'pia'), ['b-team']);

      const received = changesOf(await realmFeed.take(2));
      expect(received.map((c) => [c.realmId, c.preference.id])).toEqual([
        ['sports', 'sports:otto'],
        ['sports', 'sports:pia'],
      ]);

      const otherRealm = ws.subscribe<RealmChangeData>({
        query: REALM_CHANGES,
        variables: { realm: 'parks' },
      });
      await otherRealm.end();
      expect(otherRealm.errorCodes()).toEqual(['FORBIDDEN']);
      expect(otherRealm.results.filter((r) => r.data)).toEqual([]);

      // The refusal ends that operation only: the admin's feed goes on.
      await setTeams(t, await t.token('sports', 'quinn'), ['c-team']);
      const [, , third] = changesOf(await realmFeed.take(3));
      expect(third?.preference.id).toBe('sports:quinn');
    });

    it('refuses the realm feed to a user without an admin role', async () => {
      const ws = clients.connect({
        realm: 'sports',
        token: await t.token('sports', 'rory'),
      });
      const feed = ws.subscribe<RealmChangeData>({ query: REALM_CHANGES });
      await feed.end();
      expect(feed.errorCodes()).toEqual(['FORBIDDEN']);
    });

    it("closes a connection whose token is another realm's with 4401", async () => {
      const ws = clients.connect({
        realm: 'parks',
        token: await t.token('sports', 'sam'),
      });
      const changes = ws.subscribe<OwnChangeData>({ query: OWN_CHANGES });
      await changes.end();
      expect(changes.closeCode()).toBe(4401);
      expect(changes.results).toEqual([]);
      expect((await ws.closed()).code).toBe(4401);
    });

    it('closes a connection whose realm is unknown with 4421', async () => {
      const ws = clients.connect({ host: 'nowhere.localhost' });
      const changes = ws.subscribe<OwnChangeData>({ query: OWN_CHANGES });
      await changes.end();
      expect(changes.closeCode()).toBe(4421);
    });

    it('accepts a connection without a token, but refuses its subscribe with UNAUTHENTICATED', async () => {
      const ws = clients.connect({ realm: 'sports', keepOpen: true });
      const changes = ws.subscribe<OwnChangeData>({ query: OWN_CHANGES });
      await changes.end();
      expect(changes.errorCodes()).toEqual(['UNAUTHENTICATED']);
      expect(changes.closeCode()).toBeUndefined();

      // The same connection stays open and serves what an anonymous
      // caller may do.
      const realm = ws.subscribe<{ currentRealm: { id: string } }>({
        query: '{ currentRealm { id } }',
      });
      const [result] = await realm.take(1);
      expect(result?.data).toEqual({ currentRealm: { id: 'sports' } });
      expect(ws.connections()).toBe(1);
      expect(ws.closes).toEqual([]);
    });
  },
);

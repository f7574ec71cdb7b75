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
  setPartySize,
  setTeams,
  writeTeamsDirectly,
  type OwnChangeData,
} from './support.js';

/** Changes each realm's log keeps in the short-retention system. */
const RETENTION = 5;
/**
 * Most filler writes before the log must have dropped a cursor: memory
 * trims exactly; Redis trims `MAXLEN ~`, whole stream nodes (100 entries
 * by default) at a time.
 */
const MAX_FILLER_WRITES = 1_000;

describe.each<Backend>(['memory', 'redis'])(
  'resume cursors over %s state',
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

    async function resumeAfter(after: string) {
      const ws = clients.connect({
        realm: 'sports',
        token: await t.token('sports', 'vera'),
      });
      const changes = ws.subscribe<OwnChangeData>({
        query: OWN_CHANGES,
        variables: { after },
      });
      await changes.end();
      return changes;
    }

    it('refuses a malformed cursor with BAD_USER_INPUT', async () => {
      await setTeams(t, await t.token('sports', 'vera'), ['some-team']);
      const refused = await resumeAfter('not-a-cursor');
      expect(refused.errorCodes()).toEqual(['BAD_USER_INPUT']);
      expect(refused.results.filter((r) => r.data)).toEqual([]);
    });

    it("refuses another realm's cursor with BAD_USER_INPUT", async () => {
      await setPartySize(t, await t.token('parks', 'vera'), 5);
      const parksCursor = await latestCursor(t, 'parks');
      expect(parksCursor).toMatch(/^parks\//);
      const refused = await resumeAfter(parksCursor as string);
      expect(refused.errorCodes()).toEqual(['BAD_USER_INPUT']);
      const [error] = refused.results.flatMap((r) => r.errors ?? []);
      expect(error?.message).toContain(parksCursor);
    });
  },
);

describe.each<Backend>(['memory', 'redis'])(
  'resuming over %s state with a short change log',
  (backend) => {
    let t: TestSystem;
    const clients = new WsClients(() => t.url);

    beforeAll(async () => {
      t = await startTestSystem(backend, { changeLogMaxLength: RETENTION });
    });
    afterEach(() => clients.disposeAll());
    afterAll(async () => {
      await t?.stop();
    });

    it('refuses a cursor the change log no longer keeps with CURSOR_EXPIRED', async () => {
      const token = await t.token('sports', 'walt');
      const ws = clients.connect({ realm: 'sports', token });
      const live = ws.subscribe<OwnChangeData>({
        query: OWN_CHANGES,
        variables: { after: await latestCursor(t, 'sports') },
      });
      await setTeams(t, token, ['before-trim']);
      const [seen] = changesOf(await live.take(1));
      const cursor = seen?.cursor as string;
      await ws.dispose();

      // Others write until retention has dropped walt's change.
      const store = t.system.state.store;
      let writes = 0;
      while (!(await store.readChanges('sports', cursor, 1)).truncated) {
        expect(writes).toBeLessThan(MAX_FILLER_WRITES);
        await writeTeamsDirectly(t, `filler-${writes % 3}`, [`f-${writes}`]);
        writes += 1;
      }
      expect(writes).toBeGreaterThanOrEqual(RETENTION);

      const resumed = clients.connect({ realm: 'sports', token });
      const refused = resumed.subscribe<OwnChangeData>({
        query: OWN_CHANGES,
        variables: { after: cursor },
      });
      await refused.end();
      expect(refused.errorCodes()).toEqual(['CURSOR_EXPIRED']);
      expect(refused.results.filter((r) => r.data)).toEqual([]);

      // Re-reading, then subscribing without a cursor, works again.
      const fresh = resumed.subscribe<OwnChangeData>({
        query: OWN_CHANGES,
        variables: { after: await latestCursor(t, 'sports') },
      });
      await setTeams(t, token, ['after-trim']);
      const [next] = changesOf(await fresh.take(1));
      expect(next?.preference.sports?.favoriteTeams).toEqual(['after-trim']);
    });
  },
);

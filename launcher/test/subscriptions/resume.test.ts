import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compareCursors } from '@realms/platform';
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
  setTeams,
  type OwnChangeData,
} from './support.js';

const MISSED = 5;
const BACKLOG = 30;
const DURING = 40;
const WRITERS = 4;

describe.each<Backend>(['memory', 'redis'])(
  'resuming a subscription over %s state',
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

    it('replays exactly the missed changes in order, then goes live, without a duplicate', async () => {
      const token = await t.token('sports', 'frank');
      // Another user's changes interleave in the realm's log; the resumed
      // feed must skip them and still see every one of frank's.
      const other = await t.token('sports', 'gina');

      const first = clients.connect({ realm: 'sports', token });
      const live = first.subscribe<OwnChangeData>({
        query: OWN_CHANGES,
        variables: { after: await latestCursor(t, 'sports') },
      });
      await setTeams(t, token, ['team-0']);
      const [seen] = changesOf(await live.take(1));
      expect(seen?.version).toBe(1);
      const cursor = seen?.cursor as string;
      await first.dispose();

      for (let i = 1; i <= MISSED; i++) {
        await setTeams(t, token, [`team-${i}`]);
        await setTeams(t, other, [`other-${i}`]);
      }

      const second = clients.connect({ realm: 'sports', token });
      const resumed = second.subscribe<OwnChangeData>({
        query: OWN_CHANGES,
        variables: { after: cursor },
      });
      const replayed = changesOf(await resumed.take(MISSED));
      expect(replayed.map((c) => c.version)).toEqual([2, 3, 4, 5, 6]);
      expect(replayed.every((c) => c.userId === 'frank')).toBe(true);
      expect(replayed.every((c) => c.preference.id === 'sports:frank')).toBe(
        true,
      );
      const cursors = [cursor, ...replayed.map((c) => c.cursor)];
      for (let i = 1; i < cursors.length; i++) {
        expect(
          compareCursors(cursors[i - 1] as string, cursors[i] as string),
        ).toBeLessThan(0);
      }

      // Then live: the next change, and the one after it. If the replay
      // had delivered anything twice, result 6 or 7 would be that
      // duplicate rather than versions 7 and 8.
      await setTeams(t, token, ['team-live']);
      await setTeams(t, token, ['team-last']);
      const all = changesOf(await resumed.take(MISSED + 2));
      expect(all.map((c) => c.version)).toEqual([2, 3, 4, 5, 6, 7, 8]);
      expect(new Set(all.map((c) => c.cursor)).size).toBe(all.length);
      expect(
        compareCursors(
          all[MISSED - 1]?.cursor as string,
          all[MISSED]?.cursor as string,
        ),
      ).toBeLessThan(0);
      expect(all[MISSED + 1]?.preference.sports?.favoriteTeams).toEqual([
        'team-last',
      ]);
      expect(resumed.results).toHaveLength(MISSED + 2);
    });

    it('resumes while changes keep coming: every change once, in order', async () => {
      const token = await t.token('sports', 'hugo');
      const start = await latestCursor(t, 'sports');
      for (let i = 1; i <= BACKLOG; i++) await setTeams(t, token, [`b-${i}`]);

      // Writes go on (several at once) while the server subscribes,
      // replays the backlog and goes live, so some changes can be both in
      // the replay and announced live.
      const writers = Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < DURING / WRITERS; i++)
          await setTeams(t, token, [`d-${w}-${i}`]);
      });
      const ws = clients.connect({ realm: 'sports', token });
      const resumed = ws.subscribe<OwnChangeData>({
        query: OWN_CHANGES,
        variables: { after: start },
      });
      await Promise.all(writers);

      const all = changesOf(await resumed.take(BACKLOG + DURING, 10_000));
      expect(all.map((c) => c.version)).toEqual(
        Array.from({ length: BACKLOG + DURING }, (_, i) => i + 1),
      );
      // A sentinel: a duplicate delivered late would arrive before it.
      await setTeams(t, token, ['sentinel']);
      const [last] = changesOf(
        (await resumed.take(BACKLOG + DURING + 1)).slice(-1),
      );
      expect(last?.version).toBe(BACKLOG + DURING + 1);
      expect(resumed.results).toHaveLength(BACKLOG + DURING + 1);
    });
  },
);

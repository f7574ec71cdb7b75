import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigDocuments } from '@realms/platform';
import {
  graphql,
  startTestSystem,
  type TestSystem,
} from './support/test-system.js';

// The gateway's entity cache (gateway/src/read-cache/entity-cache.ts):
// a division's fields of one preference, fetched once and reused by reads
// that ask for other keys. Every test changes the key list between reads,
// so the response cache misses and only the entity cache can answer.

const KEY_LISTS = [
  ['theme'],
  ['locale'],
  ['theme', 'locale'],
  ['displayName'],
  ['locale', 'theme'],
  ['reducedMotion'],
];
let nextList = 0;
/** A key list no earlier read in this file used. */
function freshKeys(): string[] {
  const keys = KEY_LISTS[nextList % KEY_LISTS.length] ?? ['theme'];
  // Past the end, a repeated key makes the list (and the key) new again.
  const repeats = Math.floor(nextList / KEY_LISTS.length);
  nextList += 1;
  return [...keys, ...Array<string>(repeats).fill('theme')];
}

const READ = `query Read($keys: [String!]) {
  myPreferences { id values(keys: $keys) { key value }
    sports { favoriteTeams statsUpdateFrequency } } }`;

type Sports = { favoriteTeams: string[]; statsUpdateFrequency: string };
type Read = {
  myPreferences: {
    id: string;
    values: { key: string; value: unknown }[];
    sports: Sports;
  };
};

describe('the gateway entity cache', () => {
  let t: TestSystem;
  const requests = new Map<string, number>();

  beforeAll(async () => {
    t = await startTestSystem('redis');
    for (const [name, server] of t.system.subgraphServers) {
      requests.set(name, 0);
      server.server.on('request', () =>
        requests.set(name, (requests.get(name) ?? 0) + 1),
      );
    }
  });
  afterAll(() => t.stop());

  async function read(user: string, keys = freshKeys()) {
    const response = await graphql<Read>(t.url, READ, {
      realm: 'sports',
      token: await t.token('sports', user),
      variables: { keys },
    });
    expect(response.errors).toBeUndefined();
    const data = response.data?.myPreferences;
    if (!data) throw new Error('no data');
    return data;
  }

  /** Requests each subgraph got while `action` ran, and its result. */
  async function counting<T>(
    action: () => Promise<T>,
  ): Promise<{ result: T; core: number; sports: number }> {
    const before = new Map(requests);
    const result = await action();
    const delta = (name: string) =>
      (requests.get(name) ?? 0) - (before.get(name) ?? 0);
    return { result, core: delta('core'), sports: delta('sports') };
  }

  async function setTeams(user: string, teams: string[]) {
    const response = await graphql(
      t.url,
      `
        mutation ($teams: [String!]) {
          updateSportsPreferences(input: { favoriteTeams: $teams }) {
            version
          }
        }
      `,
      {
        realm: 'sports',
        token: await t.token('sports', user),
        variables: { teams },
      },
    );
    expect(response.errors).toBeUndefined();
  }

  /** Reads (new key lists) until `done` holds, at most 5 s. */
  async function eventually(user: string, done: (s: Sports) => boolean) {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const current = await read(user);
      if (done(current.sports)) return current;
      if (Date.now() > deadline)
        throw new Error(`still ${JSON.stringify(current.sports)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('fetches a division once for reads of different keys', async () => {
    await setTeams('hana', ['harbor-hawks']);
    const first = await counting(() => read('hana', ['theme']));
    expect(first.sports).toBe(1);
    expect(first.core).toBe(1);

    const second = await counting(() => read('hana', ['locale']));
    expect(second.core).toBe(1);
    expect(second.sports).toBe(0);
    expect(second.result.sports).toEqual(first.result.sports);
    expect(second.result.sports.favoriteTeams).toEqual(['harbor-hawks']);
    expect(second.result.values).toEqual([{ key: 'locale', value: 'en-US' }]);
  });

  it("serves the user's own division write to their next read", async () => {
    await setTeams('ivan', ['old-team']);
    await read('ivan');
    await setTeams('ivan', ['new-team']);
    const after = await counting(() => read('ivan'));
    expect(after.sports).toBe(1);
    expect(after.result.sports.favoriteTeams).toEqual(['new-team']);
  });

  it('drops the entity when it changes elsewhere (another replica)', async () => {
    await setTeams('jun', ['before']);
    await read('jun');
    // Written straight through the write path, as another gateway would.
    await t.system.preferences.write({
      realm: 'sports',
      userId: 'jun',
      changes: [
        {
          key: 'sports.favoriteTeams',
          value: ['after'],
          scope: 'REALM',
          path: ['favoriteTeams'],
        },
      ],
      expectedVersion: null,
      writer: 'sports',
      globalLayerWritable: false,
      actor: 'jun',
      requestId: 'elsewhere',
    });
    const after = await eventually(
      'jun',
      (s) => s.favoriteTeams[0] === 'after',
    );
    expect(after.sports.favoriteTeams).toEqual(['after']);
  });

  it("keeps the division's entity across the user's own write of another key", async () => {
    await setTeams('nia', ['nias-team']);
    await read('nia');
    const write = await graphql(
      t.url,
      'mutation { setPreferences(values: [{ key: "displayName", value: "Nia N." }]) { version } }',
      { realm: 'sports', token: await t.token('sports', 'nia') },
    );
    expect(write.errors).toBeUndefined();
    const after = await counting(() => read('nia', ['displayName']));
    // The response was dropped (a fresh core fetch shows the write), the
    // division's fields were not: no sports fetch.
    expect(after.result.values).toEqual([
      { key: 'displayName', value: 'Nia N.' },
    ]);
    expect(after.core).toBe(1);
    expect(after.sports).toBe(0);
    expect(after.result.sports.favoriteTeams).toEqual(['nias-team']);
  });

  it('keeps it when another replica changes another key, not when it changes a division key', async () => {
    await setTeams('oli', ['olis-team']);
    await read('oli');
    const writeElsewhere = (
      key: string,
      value: unknown,
      writer: string | null,
      path: (string | number)[],
    ) =>
      t.system.preferences.write({
        realm: 'sports',
        userId: 'oli',
        changes: [{ key, value, scope: 'REALM', path }],
        expectedVersion: null,
        writer,
        globalLayerWritable: false,
        actor: 'oli',
        requestId: 'elsewhere',
      });

    await writeElsewhere('theme', 'light', null, ['values', 0]);
    const keptFor = await counting(async () => {
      const deadline = Date.now() + 5_000;
      for (;;) {
        const current = await read('oli', ['theme']);
        if (current.values[0]?.value === 'light') return current;
        if (Date.now() > deadline) throw new Error('theme never changed');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    expect(keptFor.sports).toBe(0);
    expect(keptFor.result.sports.favoriteTeams).toEqual(['olis-team']);

    await writeElsewhere('sports.favoriteTeams', ['new'], 'sports', [
      'favoriteTeams',
    ]);
    const after = await eventually('oli', (s) => s.favoriteTeams[0] === 'new');
    expect(after.sports.favoriteTeams).toEqual(['new']);
  });

  it("never serves one user's entity to another, or a user's to their admin", async () => {
    await setTeams('kim', ['kims-team']);
    await setTeams('lee', ['lees-team']);
    expect((await read('kim')).sports.favoriteTeams).toEqual(['kims-team']);
    expect((await read('lee')).sports.favoriteTeams).toEqual(['lees-team']);
    expect((await read('kim')).sports.favoriteTeams).toEqual(['kims-team']);

    // A realm admin reads kim's preference with an operation of the same
    // name, so the gateway sends the sports subgraph the very fetch kim's
    // read sent: the same entity, another caller, so another entry (the
    // caller's user and roles are in the key).
    const adminToken = await t.token('sports', 'ops-admin', [
      'user',
      'realm-admin',
    ]);
    const adminRead = await counting(() =>
      graphql<{ preference: { sports: Sports } }>(
        t.url,
        `
          query Read {
            preference(id: "sports:kim") {
              sports {
                favoriteTeams
                statsUpdateFrequency
              }
            }
          }
        `,
        {
          realm: 'sports',
          token: adminToken,
        },
      ),
    );
    expect(adminRead.result.errors).toBeUndefined();
    expect(adminRead.sports).toBe(1);
    expect(adminRead.result.data?.preference.sports.favoriteTeams).toEqual([
      'kims-team',
    ]);
  });

  it('drops every entity when a division default changes', async () => {
    const before = await read('mia');
    expect(before.sports.statsUpdateFrequency).toBe('EVERY_5_MINUTES');

    const live = t.system.liveCatalog;
    const edit = structuredClone(live.documents) as ConfigDocuments & {
      realms: Record<
        string,
        { divisionFields: Record<string, Record<string, unknown>> }
      >;
    };
    const frequency =
      edit.realms['sports']?.divisionFields['statsUpdateFrequency'];
    if (!frequency) throw new Error('no statsUpdateFrequency');
    frequency['default'] = 'hourly';
    await live.publish(edit, live.version, {
      actor: 'ops',
      comment: 'division default',
    });

    const after = await counting(() => read('mia'));
    expect(after.sports).toBe(1);
    expect(after.result.sports.statsUpdateFrequency).toBe('HOURLY');
  });

  it('counts its lookups in realms_entity_cache_lookups_total', async () => {
    const metrics = await (await fetch(new URL('/metrics', t.url))).text();
    const hits = metrics
      .split('\n')
      .filter(
        (line) =>
          line.startsWith('realms_entity_cache_lookups_total{') &&
          line.includes('subgraph="sports"') &&
          line.includes('result="hit"'),
      )
      .map((line) => Number(line.split(' ').pop()));
    expect(hits).toHaveLength(1);
    expect(hits[0]).toBeGreaterThan(0);
  });
});

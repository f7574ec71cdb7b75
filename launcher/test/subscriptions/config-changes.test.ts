import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigDocuments } from '@realms/platform';
import { startTestSystem, type TestSystem } from '../support/test-system.js';
import { WsClients, type Collector } from '../support/ws-client.js';

const CONFIG_CHANGES = /* GraphQL */ `
  subscription ($realm: ID) {
    realmConfigChanged(realm: $realm) {
      realm: realmId
      version
      changes
      actor
      comment
    }
  }
`;

type ConfigChange = {
  realmConfigChanged: {
    realm: string;
    version: number;
    changes: string[];
    actor: string;
    comment: string | null;
  };
};

type Editable = ConfigDocuments & {
  global: { properties: Record<string, Record<string, unknown>> };
  realms: Record<
    string,
    { overrides: Record<string, Record<string, unknown>> }
  >;
};

describe('realm configuration changes as a subscription', () => {
  let t: TestSystem;
  const clients = new WsClients(() => t.url);

  beforeAll(async () => {
    t = await startTestSystem('redis');
  });
  afterEach(() => clients.disposeAll());
  afterAll(() => t?.stop());

  /** Publishes edits until `collector` has a result: live feeds have no ack. */
  async function publishUntilSeen(
    collector: Collector<ConfigChange>,
    edit: (d: Editable) => void,
    comment: string,
  ) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const live = t.system.liveCatalog;
      const documents = structuredClone(live.documents) as Editable;
      edit(documents);
      await live.publish(documents, live.version, {
        actor: 'ops',
        comment: `${comment} ${attempt}`,
      });
      if (
        await collector.take(1, 500).then(
          () => true,
          () => false,
        )
      )
        return;
    }
    throw new Error('no configuration change arrived');
  }

  const sportsTheme = (value: string) => (d: Editable) => {
    const sports = d.realms['sports'];
    if (sports)
      sports.overrides['theme'] = {
        ...sports.overrides['theme'],
        default: value,
      };
  };

  it("tells a realm's admins about its changes, and only about those", async () => {
    const sportsAdmin = clients.connect({
      realm: 'sports',
      token: await t.token('sports', 'sam', ['realm-admin']),
    });
    const parksAdmin = clients.connect({
      realm: 'parks',
      token: await t.token('parks', 'pat', ['realm-admin']),
    });
    const sports = sportsAdmin.subscribe<ConfigChange>({
      query: CONFIG_CHANGES,
    });
    const parks = parksAdmin.subscribe<ConfigChange>({ query: CONFIG_CHANGES });

    let flip = 0;
    await publishUntilSeen(
      sports,
      (d) => sportsTheme(flip++ % 2 ? 'dark' : 'light')(d),
      'sports theme',
    );
    const [change] = sports.results;
    expect(change?.data?.realmConfigChanged).toMatchObject({
      realm: 'sports',
      actor: 'ops',
      changes: ['realms/sports: overrides.theme.default'],
    });
    expect(parks.results).toHaveLength(0);

    // The global schema changes every realm: parks hears of it too.
    await publishUntilSeen(
      parks,
      (d) => {
        const locale = d.global.properties['locale'];
        if (locale)
          locale['default'] = locale['default'] === 'en-GB' ? 'en-US' : 'en-GB';
      },
      'global locale',
    );
    expect(parks.results.at(-1)?.data?.realmConfigChanged.changes).toEqual([
      'global: properties.locale.default',
    ]);
  });

  it('refuses the feed to users and to admins of another realm', async () => {
    const user = clients.connect({
      realm: 'sports',
      token: await t.token('sports', 'una'),
    });
    const refusedUser = user.subscribe<ConfigChange>({ query: CONFIG_CHANGES });
    await refusedUser.end();
    expect(
      JSON.stringify(refusedUser.failure ?? refusedUser.results),
    ).toContain('FORBIDDEN');

    const admin = clients.connect({
      realm: 'parks',
      token: await t.token('parks', 'pat', ['realm-admin']),
    });
    const refusedAdmin = admin.subscribe<ConfigChange>({
      query: CONFIG_CHANGES,
      variables: { realm: 'sports' },
    });
    await refusedAdmin.end();
    expect(
      JSON.stringify(refusedAdmin.failure ?? refusedAdmin.results),
    ).toContain('FORBIDDEN');
  });
});

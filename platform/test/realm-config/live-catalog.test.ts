import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMemoryChangeBus,
  createRedisChangeBus,
  type ChangeBus,
} from '../../src/change-feed/change-bus.js';
import type { ConfigChangeEvent } from '../../src/change-feed/change-event.js';
import { PreferenceSchemaError } from '../../src/realm-config/catalog.js';
import {
  MemoryConfigVersionStore,
  RedisConfigVersionStore,
  type ConfigDocuments,
  type ConfigVersionStore,
} from '../../src/realm-config/config-versions.js';
import { diffConfig } from '../../src/realm-config/config-diff.js';
import { LiveCatalog } from '../../src/realm-config/live-catalog.js';
import { readSchemaDocuments } from '../../src/realm-config/load.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const logger = pino({ level: 'silent' });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A copy of the files with the sports theme default changed. */
function withSportsTheme(
  documents: ConfigDocuments,
  theme: string,
): ConfigDocuments {
  const copy = structuredClone(documents) as ConfigDocuments & {
    realms: Record<
      string,
      { overrides: Record<string, Record<string, unknown>> }
    >;
  };
  const sports = copy.realms['sports'];
  if (!sports) throw new Error('no sports realm');
  sports.overrides['theme'] = { ...sports.overrides['theme'], default: theme };
  return copy;
}

type Backend = {
  stores: () => ConfigVersionStore;
  buses: () => Promise<ChangeBus>;
};

function memoryBackend(): Backend {
  const store = new MemoryConfigVersionStore();
  const bus = createMemoryChangeBus();
  cleanups.push(() => bus.close());
  return { stores: () => store, buses: async () => bus };
}

function redisBackend(): Backend {
  const prefix = `realms-test-${randomUUID()}`;
  const clients: Redis[] = [];
  const client = () => {
    const redis = new Redis(REDIS_URL);
    clients.push(redis);
    return redis;
  };
  cleanups.push(async () => {
    const admin = new Redis(REDIS_URL);
    const keys = await admin.keys(`${prefix}:*`);
    if (keys.length > 0) await admin.unlink(...keys);
    admin.disconnect();
    for (const redis of clients) redis.disconnect();
  });
  return {
    stores: () => new RedisConfigVersionStore(client(), prefix),
    buses: async () => {
      const bus = createRedisChangeBus({
        publisher: client(),
        subscriber: client(),
      });
      cleanups.push(() => bus.close());
      return bus;
    },
  };
}

describe.each([
  ['memory', memoryBackend],
  ['redis', redisBackend],
] as const)('live configuration over %s', (_name, makeBackend) => {
  async function open(backend: Backend) {
    const live = await LiveCatalog.open({
      store: backend.stores(),
      bus: await backend.buses(),
      logger,
      pollIntervalMs: 0,
    });
    cleanups.push(() => live.close());
    return live;
  }

  it('starts from the schema files as version 1, once', async () => {
    const backend = makeBackend();
    const first = await open(backend);
    const second = await open(backend);
    expect(first.version).toBe(1);
    expect(second.version).toBe(1);
    expect(
      first.get().realm('sports')?.definitions.get('theme')?.defaultValue,
    ).toBe('dark');
  });

  it('carries a published version to every other process', async () => {
    const backend = makeBackend();
    const writer = await open(backend);
    const reader = await open(backend);
    const seen = new Promise<ConfigChangeEvent>((resolve) =>
      reader.onChange((event) => resolve(event)),
    );

    const event = await writer.publish(
      withSportsTheme(writer.documents, 'light'),
      1,
      {
        actor: 'ops',
        comment: 'brighter',
      },
    );
    expect(event).toMatchObject({
      version: 2,
      previousVersion: 1,
      realms: ['sports'],
      changes: ['realms/sports: overrides.theme.default'],
    });
    expect(await seen).toMatchObject({ version: 2 });
    expect(
      reader.get().realm('sports')?.definitions.get('theme')?.defaultValue,
    ).toBe('light');
    expect(
      writer.get().realm('sports')?.definitions.get('theme')?.defaultValue,
    ).toBe('light');
  });

  it('refuses a stale expected version and a version that breaks the rules', async () => {
    const backend = makeBackend();
    const live = await open(backend);
    await live.publish(withSportsTheme(live.documents, 'light'), 1, {
      actor: 'a',
      comment: null,
    });
    expect(
      await live.publish(withSportsTheme(live.documents, 'system'), 1, {
        actor: 'b',
        comment: null,
      }),
    ).toBeNull();
    await expect(
      live.publish(withSportsTheme(live.documents, 'sepia'), 2, {
        actor: 'c',
        comment: null,
      }),
    ).rejects.toBeInstanceOf(PreferenceSchemaError);
    expect(live.version).toBe(2);
  });

  it('lists versions newest first and catches up on a missed announcement', async () => {
    const backend = makeBackend();
    const store = backend.stores();
    const live = await open(backend);
    // Published straight to the store: no announcement on the bus.
    await store.publish(1, withSportsTheme(live.documents, 'light'), {
      actor: 'x',
      comment: 'quiet',
    });
    expect((await store.list(10)).map((v) => v.version)).toEqual([2, 1]);
    expect(live.version).toBe(1);
    await live.catchUp();
    expect(live.version).toBe(2);
  });
});

describe('the schema files and the version history', () => {
  it('keeps run-time edits across restarts, and publishes edited files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'realms-schema-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await cp(fileURLToPath(new URL('../../../schema/', import.meta.url)), dir, {
      recursive: true,
    });
    const store = new MemoryConfigVersionStore();
    const bus = createMemoryChangeBus();
    cleanups.push(() => bus.close());
    const open = async () => {
      const live = await LiveCatalog.open({
        store,
        bus,
        logger,
        schemaDir: dir,
        pollIntervalMs: 0,
      });
      cleanups.push(() => live.close());
      return live;
    };

    const first = await open();
    await first.publish(withSportsTheme(first.documents, 'light'), 1, {
      actor: 'ops',
      comment: null,
    });
    const restarted = await open();
    expect(restarted.version).toBe(2);
    expect(
      restarted.get().realm('sports')?.definitions.get('theme')?.defaultValue,
    ).toBe('light');

    const file = join(dir, 'realms', 'sports.json');
    await writeFile(
      file,
      JSON.stringify(
        withSportsTheme(await readSchemaDocuments(dir), 'system').realms[
          'sports'
        ],
      ),
    );
    const deployed = await open();
    expect(deployed.version).toBe(3);
    expect(
      deployed.get().realm('sports')?.definitions.get('theme')?.defaultValue,
    ).toBe('system');
    expect((await store.list(1))[0]).toMatchObject({
      actor: 'schema-files',
      comment: 'schema/ files changed',
    });
  });
});

describe('configuration differences', () => {
  it('names every changed leaf by file and path', async () => {
    const before = await readSchemaDocuments();
    const after = withSportsTheme(before, 'light');
    expect(diffConfig(before, after)).toEqual([
      {
        path: 'realms/sports: overrides.theme.default',
        before: 'dark',
        after: 'light',
      },
    ]);
  });
});

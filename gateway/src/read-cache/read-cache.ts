import type { ChangeBus, Logger, PreferenceStore } from '@realms/platform';
import {
  ChangeTails,
  type TailListener,
} from '../subscriptions/realm-change-tail.js';
import { ResponseCache, type ResponseCacheOptions } from './response-cache.js';

/**
 * The gateway's two read caches: whole responses of preference reads
 * (read-cache-plugin.ts, read-shortcut.ts), and single-entity subgraph
 * fetches (entity-cache.ts). Both depend on preferences and the
 * configuration in the same way, so they are invalidated together.
 */
export class ReadCaches {
  readonly responses: ResponseCache;
  readonly entities: ResponseCache;

  constructor(limits: {
    readonly responses: ResponseCacheOptions;
    readonly entities: ResponseCacheOptions;
  }) {
    this.responses = new ResponseCache(limits.responses);
    this.entities = new ResponseCache(limits.entities);
  }

  /** Drops everything read from one preference (`realm:user`). */
  invalidate(preferenceId: string): void {
    this.responses.invalidate(preferenceId);
    this.entities.invalidate(preferenceId);
  }

  /** Drops everything (configuration changed, or changes were missed). */
  clear(): void {
    this.responses.clear();
    this.entities.clear();
  }
}

/**
 * The gateway's read caches, kept honest by every change: they follow the
 * change log of every realm (the same tails subscriptions use) and drop
 * what each change touches, whichever replica or subgraph made it.
 */
export async function startReadCache(options: {
  readonly store: PreferenceStore;
  readonly bus: ChangeBus;
  readonly realmIds: readonly string[];
  readonly logger: Logger;
  readonly limits: ResponseCacheOptions;
  readonly entityLimits: ResponseCacheOptions;
}): Promise<{ caches: ReadCaches; stop: () => Promise<void> }> {
  const cache = new ReadCaches({
    responses: options.limits,
    entities: options.entityLimits,
  });
  const tails = new ChangeTails(options.store, options.bus, options.logger);
  const listener: TailListener = {
    onEvents: (events) => {
      for (const event of events) cache.invalidate(event.preferenceId);
    },
    // Changes were missed: nothing cached can be trusted any more.
    onGap: () => cache.clear(),
  };
  for (const realm of options.realmIds) await tails.add(realm, listener);
  return {
    caches: cache,
    stop: async () => {
      for (const realm of options.realmIds) await tails.remove(realm, listener);
    },
  };
}

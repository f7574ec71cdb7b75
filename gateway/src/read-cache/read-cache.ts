import type { ChangeBus, Logger, PreferenceStore } from '@realms/platform';
import {
  ChangeTails,
  type TailListener,
} from '../subscriptions/realm-change-tail.js';
import { divisionDependency } from './entity-cache.js';
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

  constructor(
    limits: {
      readonly responses: ResponseCacheOptions;
      readonly entities: ResponseCacheOptions;
    },
    /** The divisions (realm ids): each names its field and its keys. */
    private readonly divisions: readonly string[],
  ) {
    this.responses = new ResponseCache(limits.responses);
    this.entities = new ResponseCache(limits.entities);
  }

  /**
   * Drops what was read from one preference (`realm:user`). Given the keys
   * that changed, a division's entity entries of that preference stay
   * unless one of the division's own keys is among them (see
   * divisionDependency); without them, everything goes.
   */
  invalidate(preferenceId: string, changedKeys?: readonly string[]): void {
    this.responses.invalidate(preferenceId);
    this.entities.invalidate(preferenceId);
    for (const division of this.divisions) {
      const prefix = `${division}.`;
      if (!changedKeys || changedKeys.some((key) => key.startsWith(prefix)))
        this.entities.invalidate(divisionDependency(preferenceId, division));
    }
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
  const cache = new ReadCaches(
    { responses: options.limits, entities: options.entityLimits },
    options.realmIds,
  );
  const tails = new ChangeTails(options.store, options.bus, options.logger);
  const listener: TailListener = {
    onEvents: (events) => {
      for (const event of events)
        cache.invalidate(event.preferenceId, event.changedKeys);
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

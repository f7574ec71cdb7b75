import type { ChangeBus, Logger, PreferenceStore } from '@realms/platform';
import {
  ChangeTails,
  type TailListener,
} from '../subscriptions/realm-change-tail.js';
import { ResponseCache, type ResponseCacheOptions } from './response-cache.js';

/**
 * The gateway's read cache, kept honest by every change: it follows the
 * change log of every realm (the same tails subscriptions use) and drops
 * what each change touches, whichever replica or subgraph made it.
 */
export async function startReadCache(options: {
  readonly store: PreferenceStore;
  readonly bus: ChangeBus;
  readonly realmIds: readonly string[];
  readonly logger: Logger;
  readonly limits: ResponseCacheOptions;
}): Promise<{ cache: ResponseCache; stop: () => Promise<void> }> {
  const cache = new ResponseCache(options.limits);
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
    cache,
    stop: async () => {
      for (const realm of options.realmIds) await tails.remove(realm, listener);
    },
  };
}

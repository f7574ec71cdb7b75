import { createMemoryChangeBus } from '../../src/change-feed/change-bus.js';
import { describeBusContract } from './bus-contract.js';

describeBusContract('memory', async () => {
  const bus = createMemoryChangeBus();
  return { bus, cleanup: () => bus.close() };
});

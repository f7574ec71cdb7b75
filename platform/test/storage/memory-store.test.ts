import { MemoryPreferenceStore } from '../../src/storage/memory-store.js';
import { describeStoreContract } from './store-contract.js';

describeStoreContract('memory', async (options) => {
  const store = new MemoryPreferenceStore(options);
  return { store, cleanup: () => store.close() };
});

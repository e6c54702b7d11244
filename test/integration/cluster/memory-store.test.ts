import { MemoryClusterBackend, MemoryClusterStore } from '../../../src/cluster/memory-store.js';
import { clusterStoreContract } from './contract.js';

clusterStoreContract('memory', async () => {
  const backend = new MemoryClusterBackend();
  const a = new MemoryClusterStore({ backend });
  const b = new MemoryClusterStore({ backend });
  await Promise.all([a.start(), b.start()]);
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
});

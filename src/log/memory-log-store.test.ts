// Runs the LogStore conformance suite against the in-memory store.
// The same suite runs against the file store in file-log-store.test.ts.
import { createMemoryLogStore } from './memory-log-store.js';
import { runLogStoreConformance } from './log-store.conformance.js';

runLogStoreConformance('memory', async ({ clock }) => {
  const store = createMemoryLogStore({ clock, retentionCheckIntervalMs: 0 });
  await store.open();
  return { store, dispose: () => store.close() };
});

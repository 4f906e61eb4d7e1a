// Runs the LogStore conformance suite against the file store (a temp DATA_DIR per test),
// with small read chunks and caches so reads really cross chunks, segments and handles.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLogStore } from './file-log-store.js';
import { runLogStoreConformance } from './log-store.conformance.js';

runLogStoreConformance('file', async ({ clock }) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-log-'));
  const store = createFileLogStore({
    dataDir,
    clock,
    retentionCheckIntervalMs: 0,
    flushIntervalMs: 0,
    recentCacheBytes: 256,
    openSegmentsPerPartition: 1,
  });
  await store.open();
  return {
    store,
    dispose: async () => {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});

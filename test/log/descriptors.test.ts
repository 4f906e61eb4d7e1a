// Open file descriptors stay bounded (#12.10): thousands of partitions, several segments
// each, written and replayed from the earliest offset while /proc/self/fd is counted.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { faultInjectingLogFs, nodeLogFs, type LogFs, type PartitionLog } from '../../src/log/index.js';
import { afterTest, batch, cleanUpAfterEach, config, newTopic, openStore, readAll, scratchDir } from './helpers.js';

cleanUpAfterEach();

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** The real file system without fsyncs: descriptors are real, the test just doesn't wait on the disk. */
const noSyncFs: LogFs = {
  ...nodeLogFs,
  syncDir: async () => {},
  open: async (path, flags) => {
    const h = await nodeLogFs.open(path, flags);
    return {
      read: (b, o, l, p) => h.read(b, o, l, p),
      write: (b, o, l, p) => h.write(b, o, l, p),
      datasync: async () => {},
      sync: async () => {},
      truncate: (len) => h.truncate(len),
      stat: () => h.stat(),
      close: () => h.close(),
    };
  },
};

async function inChunks<T>(items: T[], size: number, fn: (item: T) => Promise<void>, after: () => void) {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map(fn));
    after();
  }
}

describe('open descriptors are bounded', () => {
  it('2,000 partitions × 4 segments written and replayed from earliest stay within SLUICE_MAX_OPEN_FILES', async () => {
    const dir = await scratchDir();
    const maxOpenFiles = 64;
    const baseline = openFds();
    const store = await openStore(dir, { fs: noSyncFs, maxOpenFiles });
    afterTest(() => store.close());
    const topics = Array.from({ length: 20 }, () => newTopic());
    const logs: PartitionLog[] = [];
    for (const topic of topics) {
      const parts = Array.from({ length: 100 }, (_, p) =>
        store.createPartition(topic, p, { ...config, segmentBytes: 1024 }),
      );
      logs.push(...(await Promise.all(parts)));
    }
    let peak = 0;
    const sample = () => void (peak = Math.max(peak, openFds()));
    // Four ~600-byte batches per partition: one per 1 KiB segment, so four segments each.
    for (let round = 0; round < 4; round++) {
      await inChunks(
        logs,
        200,
        async (log) => {
          const r = await log.append(batch(round, 3, 140), { durability: 'write' });
          expect(r.ok).toBe(true);
        },
        sample,
      );
    }
    const segments = readdirSync(`${dir}/${topics[0]}/0`).filter((n) => n.endsWith('.log')).length;
    expect(segments).toBeGreaterThanOrEqual(4);
    const afterWrites = openFds();
    let records = 0;
    await inChunks(
      logs,
      200,
      async (log) => {
        expect(log.startOffset()).toBe(0);
        const n = (await readAll(log)).length;
        records += n;
      },
      sample,
    );
    expect(records).toBe(logs.length * 12);
    const afterReplay = openFds();
    console.log(
      `descriptors: baseline ${baseline}, peak ${peak}, after writes ${afterWrites}, after replay ${afterReplay} ` +
        `(${logs.length} partitions, ${segments} segments each, max open files ${maxOpenFiles})`,
    );
    // The store's own handles never pass its bound (+ a few transient index/checkpoint files).
    expect(peak - baseline).toBeLessThanOrEqual(maxOpenFiles + 16);
    expect(afterReplay - baseline).toBeLessThanOrEqual(maxOpenFiles + 4);
  }, 300_000);

  it('EMFILE never turns a partition read-only: the append is refused as unavailable and the next one succeeds', async () => {
    const dir = await scratchDir();
    let emfile = false;
    const fs = faultInjectingLogFs(nodeLogFs, (op) => (emfile && op === 'open' ? 'EMFILE' : undefined));
    const store = await openStore(dir, { fs, maxOpenFiles: 1 });
    afterTest(() => store.close());
    const a = await store.createPartition(newTopic(), 0, config);
    const b = await store.createPartition(newTopic(), 0, config);
    expect((await a.append(batch(0), { durability: 'fsync' })).ok).toBe(true);
    expect((await b.append(batch(0), { durability: 'fsync' })).ok).toBe(true); // a's handle was closed for b's
    emfile = true;
    const refused = await a.append(batch(1), { durability: 'fsync' });
    expect(refused).toMatchObject({
      ok: false,
      error: { code: 'unavailable', reason: expect.stringMatching(/EMFILE/) },
    });
    expect(JSON.stringify(refused)).not.toContain(dir);
    expect(a.writable()).toEqual({ ok: true });
    emfile = false;
    expect(await a.append(batch(2), { durability: 'fsync' })).toEqual({
      ok: true,
      value: { baseOffset: 3, lastOffset: 5 },
    });
    expect((await readAll(a)).map((r) => r.value?.toString())).toEqual([
      'b0r0',
      'b0r1',
      'b0r2',
      'b2r0',
      'b2r1',
      'b2r2',
    ]);
  });
});

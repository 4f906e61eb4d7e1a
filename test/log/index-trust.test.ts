// NOT LANDED (fails on main): index file entries below the checkpointed mark are trusted
// without a check of the batch they name (only the last entry is checked), so a damaged
// .index entry makes a read skip acknowledged records or quarantine a healthy partition.
// DESIGN §4: "Indexes are … mirrored to files, never trusted over the log."
import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileLogStore } from '../../src/log/index.js';
import type { FilePartitionLog } from '../../src/log/file-partition-log.js';
import { batch, config, crashableFs, newTopic, openStore, segmentFiles, tempDir } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** 60 fsynced batches, a flush, a crash; then `damage` applied to the .index file; reopened. */
async function damagedIndex(damage: (idx: Buffer) => void) {
  const t = await tempDir();
  cleanups.push(t.cleanup);
  const files = crashableFs();
  cleanups.push(files.releaseAll);
  const topic = newTopic();
  const store = await openStore(t.dir, { fs: files.fs, scrubBytesPerSec: 0 });
  const log = (await store.createPartition(topic, 0, config)) as FilePartitionLog;
  for (let i = 0; i < 60; i++) await log.append(batch(i, 3, 200), { durability: 'fsync' });
  await log.flush();
  const pdir = `${t.dir}/${topic}/0`;
  const [name] = await segmentFiles(pdir);
  const path = `${pdir}/${name!.replace('.log', '.index')}`;
  const idx = await readFile(path);
  expect(idx.length / 8).toBeGreaterThan(4);
  const entry = { rel: idx.readInt32BE(16), pos: idx.readInt32BE(20) };
  damage(idx);
  await writeFile(path, idx);
  const s2 = createFileLogStore({
    dataDir: t.dir,
    retentionCheckIntervalMs: 0,
    flushIntervalMs: 0,
    scrubBytesPerSec: 0,
  });
  await s2.open();
  cleanups.push(() => s2.close());
  return { store: s2, log: s2.getPartition(topic, 0)!, entry };
}

describe('index files are never trusted over the log', () => {
  it('a middle .index entry naming a smaller offset: a read at that offset still returns it', async () => {
    const { log, entry } = await damagedIndex((idx) => idx.writeInt32BE(idx.readInt32BE(16) - 2, 16));
    const r = await log.read(entry.rel - 2, { maxRecords: 3, maxBytes: 1 << 20 });
    // On main: [54, 55, 56] — offsets 52 and 53 silently skipped.
    expect(r.ok && r.value.records.map((x) => x.offset)).toEqual([entry.rel - 2, entry.rel - 1, entry.rel]);
  });

  it('a middle .index entry pointing inside a batch: the healthy partition is not quarantined', async () => {
    const { store, log, entry } = await damagedIndex((idx) => idx.writeInt32BE(idx.readInt32BE(20) + 1, 20));
    const r = await log.read(entry.rel, { maxRecords: 3, maxBytes: 1 << 20 }).catch((e: Error) => e.name);
    expect(r).toMatchObject({ ok: true });
    expect(store.quarantined()).toEqual([]);
  });
});

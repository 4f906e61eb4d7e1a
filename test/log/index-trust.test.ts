// DESIGN §4: "Indexes are … mirrored to files, never trusted over the log." A damaged .index or
// .timeindex entry is found by the first batch read at its position, the segment's index is
// rebuilt from the log, and the answer is the log's: no record skipped, no healthy partition quarantined.
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { LogStore, PartitionLog } from '../../src/log/index.js';
import { cleanUpAfterEach, expectIndexesMatchRebuild, readAll, reopenStore } from './helpers.js';
import { closedSegments, flushedThenCrashed, indexFile } from './damaged-segments.js';

cleanUpAfterEach();

interface Damaged {
  store: LogStore;
  log: PartitionLog;
  /** The damaged file's bytes before the damage. */
  before: Buffer;
  pdir: string;
  rebuilds: () => number;
}

async function reopen(dir: string, pdir: string, topic: string, before: Buffer): Promise<Damaged> {
  let rebuilds = 0;
  const { store } = await reopenStore(dir, { scrubBytesPerSec: 0, observer: { indexRebuilt: () => rebuilds++ } });
  return { store, log: store.getPartition(topic, 0)!, before, pdir, rebuilds: () => rebuilds };
}

/**
 * 60 fsynced batches in one segment, a flush, a crash; then `damage` applied to its `.index`
 * or `.timeindex` file (the part the checkpoint covers, which a restart loads); reopened.
 */
async function damagedIndex(file: 'index' | 'timeindex', damage: (idx: Buffer) => void): Promise<Damaged> {
  const { dir, topic, pdir, name } = await flushedThenCrashed();
  const path = indexFile(pdir, name, file);
  const idx = await readFile(path);
  expect(idx.length / (file === 'index' ? 8 : 12)).toBeGreaterThan(4);
  const before = Buffer.from(idx);
  damage(idx);
  await writeFile(path, idx);
  return reopen(dir, pdir, topic, before);
}

const offsets = async (log: PartitionLog, offset: number, n: number): Promise<number[] | string> => {
  const r = await log.read(offset, { maxRecords: n, maxBytes: 1 << 20 });
  return r.ok ? r.value.records.map((x) => x.offset) : r.error.code;
};

describe('index files are never trusted over the log', () => {
  it('a middle .index entry naming a smaller offset: a read at that offset still returns it', async () => {
    const { log, before, rebuilds } = await damagedIndex('index', (idx) =>
      idx.writeInt32BE(idx.readInt32BE(16) - 2, 16),
    );
    const rel = before.readInt32BE(16);
    // Before the fix: [54, 55, 56] — offsets 52 and 53 silently skipped.
    expect(await offsets(log, rel - 2, 3)).toEqual([rel - 2, rel - 1, rel]);
    expect(rebuilds()).toBe(1);
    // The rebuilt index answers every later read without another rebuild.
    expect((await readAll(log)).map((r) => r.offset)).toEqual(Array.from({ length: 180 }, (_, i) => i));
    expect(await offsets(log, rel + 1, 2)).toEqual([rel + 1, rel + 2]);
    expect(rebuilds()).toBe(1);
  });

  it('a middle .index entry pointing inside a batch: the healthy partition is not quarantined', async () => {
    const { store, log, before, rebuilds } = await damagedIndex('index', (idx) =>
      idx.writeInt32BE(idx.readInt32BE(20) + 1, 20),
    );
    const rel = before.readInt32BE(16);
    const r = await log.read(rel, { maxRecords: 3, maxBytes: 1 << 20 }).catch((e: Error) => e.name);
    expect(r).toMatchObject({ ok: true });
    expect(await offsets(log, rel, 3)).toEqual([rel, rel + 1, rel + 2]);
    expect(store.quarantined()).toEqual([]);
    expect(log.writable()).toEqual({ ok: true });
    expect(rebuilds()).toBe(1);
  });

  it('middle .timeindex entries naming a later batch: offsetForTimestamp still answers the first record at or after the time', async () => {
    // Time entries are (int64 max timestamp, int32 relative offset), one per ~4 KiB of log;
    // batch i holds timestamp 1_000_000 + i, 3 records from offset 3i.
    const { log, before, rebuilds } = await damagedIndex('timeindex', (t) => {
      const later = t.readInt32BE(44) + 3; // the batch after the fourth entry's (offsets stay non-decreasing)
      t.writeInt32BE(later, 32);
      t.writeInt32BE(later, 44);
    });
    const b2 = Number(before.readBigInt64BE(24)) - 1_000_000; // the batch the third entry names
    // Before the fix: 72 — the batches from b2 + 1 up to the offset entry at or below the claimed batch skipped.
    expect(await log.offsetForTimestamp(1_000_000 + b2 + 1)).toBe(3 * (b2 + 1));
    expect(rebuilds()).toBe(1);
    for (const b of [0, b2, b2 + 2, b2 + 6, b2 + 7, 59])
      expect(await log.offsetForTimestamp(1_000_000 + b)).toBe(3 * b);
    expect(await log.offsetForTimestamp(1_000_000 + 60)).toBe(180);
    expect(rebuilds()).toBe(1);
  });

  it("a closed segment's .timeindex claiming an older newest timestamp: a lookup by time does not skip the segment", async () => {
    const { dir, topic, pdir, names } = await closedSegments();
    const path = indexFile(pdir, names[0]!, 'timeindex');
    const time = await readFile(path);
    // The two newest entries each claim a timestamp one lower: the segment's newest now looks older.
    const last = time.length - 12;
    const newest = Number(time.readBigInt64BE(last)) - 1_000_000; // the segment's last batch
    const previous = Number(time.readBigInt64BE(last - 12)) - 1_000_000;
    time.writeBigInt64BE(BigInt(1_000_000 + previous - 1), last - 12);
    time.writeBigInt64BE(BigInt(1_000_000 + newest - 1), last);
    await writeFile(path, time);

    const d = await reopen(dir, pdir, topic, time);
    // Before the fix: the offset of the next segment's first batch, as if this segment had nothing that new.
    expect(await d.log.offsetForTimestamp(1_000_000 + newest)).toBe(3 * newest);
    expect(await d.log.offsetForTimestamp(1_000_000 + previous)).toBe(3 * previous);
    expect(d.store.quarantined()).toEqual([]);
  });

  it("a closed segment's index files missing at a clean start: rebuilt once, at start, and written back", async () => {
    const { dir, topic, pdir, names } = await closedSegments();
    for (const ext of ['index', 'timeindex'] as const) await unlink(indexFile(pdir, names[0]!, ext));

    const d = await reopen(dir, pdir, topic, Buffer.alloc(0));
    // Before the fix: the start's rebuild was dropped, the files left missing until a read rebuilt it again.
    expect(d.rebuilds()).toBe(1);
    await expectIndexesMatchRebuild(pdir, [names[0]!]);
    expect((await readAll(d.log)).map((r) => r.offset)).toEqual(Array.from({ length: 360 }, (_, i) => i));
    expect(await d.log.offsetForTimestamp(1_000_000 + 5)).toBe(15);
    expect(d.rebuilds()).toBe(1);
  });

  it('a closed segment whose .index names offsets its batches do not start: reads are right and its files are rewritten from the log', async () => {
    const { dir, topic, pdir, names } = await closedSegments(); // clean: the start checks only each closed segment's last index entry
    const path = indexFile(pdir, names[1]!, 'index');
    const idx = await readFile(path);
    expect(idx.length / 8).toBeGreaterThan(3);
    const base = Number(names[1]!.slice(0, 20));
    const rel = idx.readInt32BE(8);
    idx.writeInt32BE(rel - 2, 8); // the second entry now claims its batch starts two offsets earlier
    await writeFile(path, idx);

    const d = await reopen(dir, pdir, topic, idx);
    // Before the fix: [rel, rel + 1, rel + 2] — the two offsets before the batch skipped.
    expect(await offsets(d.log, base + rel - 2, 3)).toEqual([base + rel - 2, base + rel - 1, base + rel]);
    expect(await offsets(d.log, base + rel + 1, 2)).toEqual([base + rel + 1, base + rel + 2]);
    expect(d.rebuilds()).toBe(1);
    expect(d.store.quarantined()).toEqual([]);
    await expectIndexesMatchRebuild(pdir); // the rebuilt index replaced the damaged files
  });
});

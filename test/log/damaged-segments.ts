// Partitions written, closed or crashed, for the tests that then damage a segment or its index
// files (scrub, index trust, quarantine marker): each setup once, named for the state it leaves.
import { open as fsOpen } from 'node:fs/promises';
import { expect } from 'vitest';
import type { FilePartitionLog } from '../../src/log/file-partition-log.js';
import { batch, config, crashableStore, newTopic, openStore, scratchDir, segmentFiles } from './helpers.js';

/** The path of a segment's `.index` or `.timeindex` file, by the segment's `.log` name. */
export const indexFile = (pdir: string, logName: string, ext: 'index' | 'timeindex'): string =>
  `${pdir}/${logName.replace('.log', `.${ext}`)}`;

/**
 * 120 fsynced batches (3 records of ~200 bytes, batch i at timestamp 1_000_000 + i) in 32 KiB
 * segments of partition 0, closed cleanly: a start then checks only each closed segment's last
 * index entry. `names` are the segment files (more than two), oldest first.
 */
export async function closedSegments() {
  const dir = await scratchDir();
  const topic = newTopic();
  const store = await openStore(dir, { scrubBytesPerSec: 0 });
  const log = await store.createPartition(topic, 0, { ...config, segmentBytes: 32 * 1024 });
  for (let i = 0; i < 120; i++) await log.append(batch(i, 3, 200), { durability: 'fsync' });
  await store.close();
  const pdir = `${dir}/${topic}/0`;
  const names = await segmentFiles(pdir);
  expect(names.length).toBeGreaterThan(2);
  return { dir, topic, pdir, names };
}

/**
 * 60 fsynced batches in one segment of partition 0, a flush, then a crash: the restart resumes at
 * the flush, loading the index files the checkpoint covers. `name` is the segment file.
 */
export async function flushedThenCrashed() {
  const { dir, store } = await crashableStore({ scrubBytesPerSec: 0 });
  const topic = newTopic();
  const log = (await store.createPartition(topic, 0, config)) as FilePartitionLog;
  for (let i = 0; i < 60; i++) await log.append(batch(i, 3, 200), { durability: 'fsync' });
  await log.flush();
  const pdir = `${dir}/${topic}/0`;
  const [name] = await segmentFiles(pdir);
  return { dir, topic, pdir, name: name! };
}

/**
 * Two partitions of 40 fsynced batches in 8 KiB segments, closed cleanly; then one bit of the
 * fifth batch (offset `badOffset`) of partition 0's second (closed) segment flipped, where a
 * clean restart never scans. `flip` flips it again (back).
 */
export async function flippedBitInClosedSegment() {
  const dir = await scratchDir();
  const topic = newTopic();
  const store = await openStore(dir, { scrubBytesPerSec: 0 });
  const sizes: number[] = [];
  for (const p of [0, 1]) {
    const log = await store.createPartition(topic, p, { ...config, segmentBytes: 8192 });
    for (let i = 0; i < 40; i++) {
      const before = log.sizeBytes();
      await log.append(batch(i, 3, 200), { durability: 'fsync' });
      if (p === 0) sizes.push(log.sizeBytes() - before);
    }
  }
  await store.close();
  const pdir = `${dir}/${topic}/0`;
  const files = await segmentFiles(pdir);
  expect(files.length).toBeGreaterThan(3);
  const firstBase = Number(files[1]!.slice(0, 20));
  const segStart = sizes.slice(0, firstBase / 3).reduce((a, b) => a + b, 0);
  const victim = firstBase / 3 + 4;
  const at = sizes.slice(0, victim).reduce((a, b) => a + b, 0) - segStart + 100;
  const path = `${pdir}/${files[1]}`;
  const flip = async (): Promise<void> => {
    const h = await fsOpen(path, 'r+');
    const b = Buffer.alloc(1);
    await h.read(b, 0, 1, at);
    await h.write(Buffer.from([b[0]! ^ 0x10]), 0, 1, at);
    await h.close();
  };
  await flip();
  return { dir, pdir, topic, files, path, badOffset: victim * 3, badSegment: firstBase, flip };
}

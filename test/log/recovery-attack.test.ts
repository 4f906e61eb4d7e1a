// Hostile interleavings around the resumed crash recovery (DESIGN §4): crashes between the
// steps of a flush, a roll and retention, tears at the checkpointed position, index files of
// another flush beside the checkpoint, two starts without a flush, and the scrub racing
// retention, appends and a topic delete. Each start must keep every acknowledged offset,
// never serve a bad batch, never reuse an offset, never quarantine a healthy partition.
import { copyFile, readFile, stat, truncate } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  faultInjectingLogFs,
  type FaultOp,
  type FileLogStoreOptions,
  type LogFs,
  type PartitionConfig,
} from '../../src/log/index.js';
import type { FilePartitionLog } from '../../src/log/file-partition-log.js';
import { readCheckpoint } from '../../src/log/partition-checkpoint.js';
import { nodeLogFs } from '../../src/log/log-fs.js';
import {
  batch,
  cleanUpAfterEach,
  config,
  crashableStore,
  expectIndexesMatchRebuild,
  newTopic,
  readAll,
  reopenStore,
  segmentFiles,
} from './helpers.js';

cleanUpAfterEach();

/** A crashable store (scrub off) whose faults (op → file suffix → errno) the test arms at will. */
async function crashable(dataDir?: string, extra: Partial<FileLogStoreOptions> = {}) {
  const faults: Partial<Record<FaultOp, string>> = {};
  const wrapFs = (fs: LogFs) =>
    faultInjectingLogFs(fs, (op, path) => {
      const suffix = faults[op];
      return suffix !== undefined && path.endsWith(suffix) ? 'EIO' : undefined;
    });
  const { dir, store, powerLoss } = await crashableStore({ scrubBytesPerSec: 0, ...extra }, { dataDir, wrapFs });
  return { dir, store, faults, powerLoss };
}

/** Partition 0 (of `partitionConfig`) of a new topic on a fresh `crashable` store; `pdir` is its directory. */
async function crashablePartition(partitionConfig: PartitionConfig = config, extra: Partial<FileLogStoreOptions> = {}) {
  const crashed = await crashable(undefined, extra);
  const topic = newTopic();
  const log = (await crashed.store.createPartition(topic, 0, partitionConfig)) as FilePartitionLog;
  return { ...crashed, topic, log, pdir: `${crashed.dir}/${topic}/0` };
}

const reopen = (dir: string, extra: Partial<FileLogStoreOptions> = {}) =>
  reopenStore(dir, { scrubBytesPerSec: 0, ...extra });

const value = (o: number): string => `b${Math.floor(o / 3)}r${o % 3}${'.'.repeat(200)}`;
const values = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => value(from + i));
const texts = async (log: Parameters<typeof readAll>[0]): Promise<string[]> =>
  (await readAll(log)).map((r) => r.value?.toString() ?? '');

async function appendRange(log: FilePartitionLog, from: number, to: number, durability: 'fsync' | 'write') {
  for (let i = from; i < to; i++) {
    const r = await log.append(batch(i, 3, 200), { durability });
    expect(r.ok && r.value.baseOffset).toBe(i * 3);
  }
}

describe('crash recovery under hostile interleavings', () => {
  it('a crash between the index-file write and the checkpoint rename resumes at the older checkpoint', async () => {
    const { dir, faults, topic, log, pdir } = await crashablePartition();
    await appendRange(log, 0, 30, 'fsync');
    await log.flush();
    const position = log.sizeBytes();
    await appendRange(log, 30, 60, 'fsync');
    faults.rename = 'partition.checkpoint';
    await log.flush(); // index files written past the old mark, the checkpoint never lands
    expect(log.writable().ok).toBe(false);
    expect((await readCheckpoint(nodeLogFs, pdir))?.recoveryPosition?.position).toBe(position);
    const size = log.sizeBytes();

    const { store: s2, report } = await reopen(dir);
    expect(report).toMatchObject({ truncated: [], quarantined: [] });
    expect(report.scannedBytes).toBe(size - position);
    const l2 = s2.getPartition(topic, 0)!;
    expect(await texts(l2)).toEqual(values(0, 180));
    expect(await l2.append(batch(60, 3, 200), { durability: 'fsync' })).toMatchObject({ value: { baseOffset: 180 } });
    await s2.close();
    await expectIndexesMatchRebuild(pdir);
  });

  it('a crash at each step of a flush after the fsync (index, time index, checkpoint tmp): resumes at the previous flush', async () => {
    const steps: Array<[FaultOp, string]> = [
      ['write', '.index'],
      ['truncate', '.index'],
      ['write', '.timeindex'],
      ['datasync', '.timeindex'],
      ['sync', 'partition.checkpoint.tmp'],
    ];
    for (const [op, file] of steps) {
      const { dir, faults, topic, log, pdir } = await crashablePartition();
      await appendRange(log, 0, 30, 'write');
      await log.flush();
      const position = log.sizeBytes();
      await appendRange(log, 30, 60, 'write');
      faults[op] = file;
      await log.flush();
      expect(log.writable().ok, `${op} ${file}`).toBe(false);
      const { store: s2, report } = await reopen(dir);
      expect(report, `${op} ${file}`).toMatchObject({ truncated: [], quarantined: [] });
      expect(report.scannedBytes, `${op} ${file}`).toBe(log.sizeBytes() - position);
      const l2 = s2.getPartition(topic, 0)!;
      expect(await texts(l2)).toEqual(values(0, 180));
      expect(await l2.offsetForTimestamp(1_000_000 + 45)).toBe(135);
      await s2.close();
      await expectIndexesMatchRebuild(pdir);
    }
  });

  it('a discard fence cutting the segment the checkpoint points into: resumes there, nothing unacknowledged visible', async () => {
    const { dir, faults, topic, log, pdir } = await crashablePartition();
    await appendRange(log, 0, 20, 'fsync');
    await log.flush();
    const position = log.sizeBytes();
    await appendRange(log, 20, 25, 'fsync');
    const acked = log.sizeBytes();
    faults.datasync = '.log';
    faults.truncate = '.log';
    expect(await log.append(batch(25, 3, 200), { durability: 'fsync' })).toMatchObject({ ok: false });
    const cp = await readCheckpoint(nodeLogFs, pdir);
    expect(cp).toMatchObject({ discard: { segment: 0, position: acked }, recoveryPosition: { position } });
    expect((await stat(`${pdir}/${(await segmentFiles(pdir))[0]}`)).size).toBeGreaterThan(acked);

    const { store: s2, report } = await reopen(dir);
    expect(report).toMatchObject({ truncated: [], quarantined: [] });
    expect(report.scannedBytes).toBe(acked - position);
    const l2 = s2.getPartition(topic, 0)!;
    expect(await texts(l2)).toEqual(values(0, 75));
    expect(await l2.append(batch(99, 3, 200), { durability: 'fsync' })).toMatchObject({ value: { baseOffset: 75 } });
    const again = await readCheckpoint(nodeLogFs, pdir);
    expect(again?.discard).toBeUndefined();
    await s2.close();
    await expectIndexesMatchRebuild(pdir);
  });

  it('a crash inside a roll, before its checkpoint lands: nothing acknowledged is lost, offsets continue', async () => {
    for (const afterFlush of [0, 5]) {
      const { dir, faults, topic, log, pdir } = await crashablePartition({ ...config, segmentBytes: 20_000 });
      // Fill the first segment to just below its limit (each batch is ~700 bytes).
      let i = 0;
      while (log.sizeBytes() < 20_000 - 700 * (afterFlush + 2)) await appendRange(log, i, ++i, 'fsync');
      await log.flush();
      await appendRange(log, i, i + afterFlush, 'write');
      i += afterFlush;
      // Append until a roll is needed; the roll's checkpoint fails: the crash point.
      faults.rename = 'partition.checkpoint';
      for (;;) {
        const r = await log.append(batch(i, 3, 200), { durability: 'write' });
        if (!r.ok) break;
        i++;
      }
      expect((await segmentFiles(pdir)).length).toBe(2);
      expect((await readCheckpoint(nodeLogFs, pdir))?.recoveryPosition?.segment).toBe(0);

      const { store: s2, report } = await reopen(dir);
      expect(report).toMatchObject({ truncated: [], quarantined: [] });
      const l2 = s2.getPartition(topic, 0)!;
      expect(l2.endOffset()).toBe(i * 3);
      expect(await texts(l2)).toEqual(values(0, i * 3));
      expect(await l2.append(batch(i, 3, 200), { durability: 'fsync' })).toMatchObject({
        value: { baseOffset: i * 3 },
      });
      expect(await texts(l2)).toEqual(values(0, i * 3 + 3));
      await s2.close();
      await expectIndexesMatchRebuild(pdir);
    }
  });

  it('a power cut right after a roll: the new segment and what was acknowledged in it survive', async () => {
    const { dir, powerLoss, topic, log, pdir } = await crashablePartition({ ...config, segmentBytes: 8192 });
    // Append (fsync) until an append lands in a segment the roll before it created.
    let i = 0;
    while ((await segmentFiles(pdir)).length < 2) await appendRange(log, i, ++i, 'fsync');
    const files = await segmentFiles(pdir);
    expect(log.sizeBytes()).toBeGreaterThan(0);
    // The roll created the new segment and the closed one's index files: their directory is
    // fsynced before the first append to the new segment is acknowledged (DESIGN §4).
    const lost = await powerLoss();
    expect(lost).toEqual([]);
    expect(await segmentFiles(pdir)).toEqual(files);

    const { store: s2, report } = await reopen(dir);
    expect(report).toMatchObject({ truncated: [], quarantined: [] });
    expect(await texts(s2.getPartition(topic, 0)!)).toEqual(values(0, i * 3));
  });

  it('a power cut after a clean close loses none of the files it wrote', async () => {
    const { dir, store, powerLoss, topic, log } = await crashablePartition({ ...config, segmentBytes: 8192 });
    await appendRange(log, 0, 30, 'write');
    await store.close();
    expect(await powerLoss()).toEqual([]);
    const { store: s2, report } = await reopen(dir);
    expect(report).toMatchObject({ cleanShutdown: true, truncated: [], quarantined: [] });
    expect(await texts(s2.getPartition(topic, 0)!)).toEqual(values(0, 90));
  });

  it('a crash after a roll, before the next flush: the new segment is scanned whole, the closed one trusted', async () => {
    const { dir, topic, log, pdir } = await crashablePartition({ ...config, segmentBytes: 8192 });
    await appendRange(log, 0, 30, 'write');
    expect((await segmentFiles(pdir)).length).toBeGreaterThan(2);
    const cp = await readCheckpoint(nodeLogFs, pdir);
    const files = await segmentFiles(pdir);
    const active = files[files.length - 1]!;
    expect(cp?.recoveryPosition).toMatchObject({ segment: Number(active.slice(0, 20)), position: 0 });
    const { store: s2, report } = await reopen(dir);
    expect(report).toMatchObject({ truncated: [], quarantined: [] });
    // The active segment whole, the closed ones only from their last index entry.
    const activeSize = (await stat(`${pdir}/${active}`)).size;
    expect(report.scannedBytes).toBeGreaterThanOrEqual(activeSize);
    expect(report.scannedBytes).toBeLessThan(activeSize + (files.length - 1) * 4096);
    const l2 = s2.getPartition(topic, 0)!;
    expect(await texts(l2)).toEqual(values(0, 90));
  });

  it('a crash after retention checkpointed the new start but before it deleted: the deletion completes', async () => {
    const { dir, store, faults, topic, log, pdir } = await crashablePartition({ ...config, segmentBytes: 8192 });
    await appendRange(log, 0, 40, 'write');
    await log.flush();
    await appendRange(log, 40, 42, 'write');
    log.updateConfig({ ...config, segmentBytes: 8192, retentionBytes: 10_000 });
    faults.unlink = '.log';
    await store.enforceRetention();
    const start = (await readCheckpoint(nodeLogFs, pdir))!.startOffset;
    expect(start).toBeGreaterThan(0);
    expect(Number((await segmentFiles(pdir))[0]!.slice(0, 20))).toBe(0);

    const { store: s2, report } = await reopen(dir);
    expect(report).toMatchObject({ truncated: [], quarantined: [] });
    const l2 = s2.getPartition(topic, 0)!;
    expect([l2.startOffset(), l2.endOffset()]).toEqual([start, 126]);
    expect(await texts(l2)).toEqual(values(start, 126));
    expect(Number((await segmentFiles(pdir))[0]!.slice(0, 20))).toBe(start);
  });

  it('a tear exactly at, one byte after and one byte before the checkpointed position', async () => {
    for (const delta of [0, 1, -1]) {
      const { dir, topic, log, pdir } = await crashablePartition();
      await appendRange(log, 0, 20, 'fsync');
      await log.flush();
      const position = log.sizeBytes();
      await appendRange(log, 20, 24, 'write');
      const [name] = await segmentFiles(pdir);
      await truncate(`${pdir}/${name}`, position + delta);
      const before = await readFile(`${pdir}/${name}`);
      const { store: s2, report } = await reopen(dir);
      const l2 = s2.getPartition(topic, 0)!;
      if (delta >= 0) {
        expect(report.quarantined).toEqual([]);
        expect(report.truncated).toEqual(delta ? [{ topicId: topic, partition: 0, bytes: delta }] : []);
        expect(await texts(l2)).toEqual(values(0, 60));
        expect(await l2.append(batch(20, 3, 200), { durability: 'fsync' })).toMatchObject({
          value: { baseOffset: 60 },
        });
      } else {
        // Fewer bytes than the flush made durable: corruption below the recovery point, nothing cut.
        expect(report.truncated).toEqual([]);
        expect(report.quarantined).toHaveLength(1);
        expect((await readFile(`${pdir}/${name}`)).equals(before)).toBe(true);
        expect(await texts(l2)).toEqual(values(0, 57));
      }
    }
  });

  it('index files of an older flush beside a newer checkpoint are not trusted: the segment is scanned whole', async () => {
    const { dir, topic, log, pdir } = await crashablePartition();
    const [name] = await segmentFiles(pdir);
    const stem = `${pdir}/${name!.replace('.log', '')}`;
    await appendRange(log, 0, 30, 'fsync');
    await log.flush();
    await copyFile(`${stem}.index`, `${stem}.index.old`);
    await copyFile(`${stem}.timeindex`, `${stem}.timeindex.old`);
    await appendRange(log, 30, 60, 'fsync');
    await log.flush();
    await appendRange(log, 60, 62, 'write');
    const size = log.sizeBytes();
    await copyFile(`${stem}.index.old`, `${stem}.index`);
    await copyFile(`${stem}.timeindex.old`, `${stem}.timeindex`);

    const { store: s2, report } = await reopen(dir);
    expect(report).toMatchObject({ truncated: [], quarantined: [], scannedBytes: size });
    const l2 = s2.getPartition(topic, 0)!;
    expect(await texts(l2)).toEqual(values(0, 186));
    expect(await l2.offsetForTimestamp(1_000_000 + 45)).toBe(135);
    await s2.close();
    await expectIndexesMatchRebuild(pdir);
  });

  it('a segment rolled because its index filled up recovers from its checkpoint like any other', async () => {
    const { dir, topic, log, pdir } = await crashablePartition(config, { maxIndexEntries: 8 });
    // One index entry per ~4.3 KB batch: the index fills after a handful.
    const big = (i: number) => [{ key: null, value: Buffer.alloc(4300, 97 + (i % 26)), headers: [], timestamp: i }];
    for (let i = 0; i < 20; i++) expect((await log.append(big(i), { durability: 'fsync' })).ok).toBe(true);
    expect((await segmentFiles(pdir)).length).toBeGreaterThan(1);
    await log.flush();
    for (let i = 20; i < 22; i++) expect((await log.append(big(i), { durability: 'write' })).ok).toBe(true);
    const { store: s2, report } = await reopen(dir, { maxIndexEntries: 8 });
    expect(report).toMatchObject({ truncated: [], quarantined: [] });
    const l2 = s2.getPartition(topic, 0)!;
    const all = await readAll(l2);
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 22 }, (_, i) => i));
    expect(all.every((r, i) => r.value!.equals(Buffer.alloc(4300, 97 + (i % 26))))).toBe(true);
    await s2.close();
    await expectIndexesMatchRebuild(pdir);
  });

  it('a group that overfills the index: the restart still resumes at the checkpointed position', async () => {
    const { dir, topic, log } = await crashablePartition(config, { maxIndexEntries: 8 });
    const big = (i: number) => [{ key: null, value: Buffer.alloc(4300, 97 + (i % 26)), headers: [], timestamp: i }];
    // Appends queued together are written as one group: one index entry per batch, past the bound.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => log.append(big(i), { durability: 'fsync' })),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    await log.flush();
    const { store: s2, report } = await reopen(dir, { maxIndexEntries: 8 });
    expect(report).toMatchObject({ truncated: [], quarantined: [] });
    expect(report.scannedBytes).toBe(0);
    const all = await readAll(s2.getPartition(topic, 0)!);
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('two starts in a row without a flush, the first cutting a torn tail and appending: nothing acknowledged lost, no offset reused', async () => {
    const { dir, topic, log, pdir } = await crashablePartition();
    await appendRange(log, 0, 20, 'fsync');
    await log.flush();
    const position = log.sizeBytes();
    await appendRange(log, 20, 23, 'write');
    const [name] = await segmentFiles(pdir);
    await truncate(`${pdir}/${name}`, log.sizeBytes() - 50); // batch 22 torn

    const second = await crashable(dir); // no flush timer: crashes before any flush
    const l2 = second.store.getPartition(topic, 0)! as FilePartitionLog;
    expect(l2.endOffset()).toBe(66);
    for (let i = 100; i < 104; i++)
      expect(await l2.append(batch(i, 3, 200), { durability: 'fsync' })).toMatchObject({
        value: { baseOffset: 66 + (i - 100) * 3 },
      });
    expect((await readCheckpoint(nodeLogFs, pdir))?.recoveryPosition?.position).toBe(position);

    const { store: s3, report } = await reopen(dir);
    expect(report).toMatchObject({ truncated: [], quarantined: [] });
    const l3 = s3.getPartition(topic, 0)!;
    const got = await readAll(l3);
    expect(got.map((r) => r.offset)).toEqual(Array.from({ length: 78 }, (_, o) => o));
    expect(got.slice(0, 66).map((r) => r.value?.toString())).toEqual(values(0, 66));
    expect(got[66]!.value?.toString()).toBe(`b100r0${'.'.repeat(200)}`);
    await s3.close();
    await expectIndexesMatchRebuild(pdir);
  });

  it('a clean shutdown, then a crash before the first flush of the next run: only the new tail is scanned', async () => {
    const { dir, store, topic, log, pdir } = await crashablePartition();
    await appendRange(log, 0, 30, 'write');
    await store.close();
    const closedSize = (await stat(`${pdir}/${(await segmentFiles(pdir))[0]}`)).size;

    const second = await crashable(dir);
    const l2 = second.store.getPartition(topic, 0)! as FilePartitionLog;
    await appendRange(l2, 30, 40, 'write');
    const size = l2.sizeBytes();

    const { store: s3, report } = await reopen(dir);
    expect(report).toMatchObject({ cleanShutdown: false, truncated: [], quarantined: [] });
    expect(report.scannedBytes).toBe(size - closedSize);
    expect(await texts(s3.getPartition(topic, 0)!)).toEqual(values(0, 120));
    await s3.close();
    await expectIndexesMatchRebuild(pdir);
  });
});

describe('the scrub racing the writer', () => {
  /** A crashed partition of many segments (~4 MB), reopened with the scrub off so the test drives it. */
  async function crashedWithSegments() {
    const { dir, topic, log } = await crashablePartition({ ...config, segmentBytes: 400_000 });
    await appendRange(log, 0, 5600, 'write');
    await log.flush();
    await appendRange(log, 5600, 5700, 'write');
    const { store: s2, report } = await reopen(dir);
    expect(report).toMatchObject({ truncated: [], quarantined: [] });
    const l2 = s2.getPartition(topic, 0)! as FilePartitionLog;
    l2.updateConfig({ ...config, segmentBytes: 400_000 });
    return { dir, topic, store: s2, log: l2 };
  }

  it('retention deleting segments under it and appends to the active segment never quarantine', async () => {
    const { store, log } = await crashedWithSegments();
    const end = log.endOffset();
    let calls = 0;
    const read = await log.scrub(async () => {
      if (calls++ === 0) {
        log.updateConfig({ ...config, segmentBytes: 400_000, retentionBytes: 900_000 });
        await store.enforceRetention();
        expect(log.startOffset()).toBeGreaterThan(0);
        // Appends land in the active segment past where the scrub stops, fsynced and not.
        for (let i = 0; i < 200; i++)
          expect((await log.append(batch(10_000 + i, 3, 200), { durability: i % 2 ? 'fsync' : 'write' })).ok).toBe(
            true,
          );
      }
      return true;
    });
    expect(calls).toBeGreaterThan(0);
    expect(read).toBeGreaterThan(0);
    expect(log.quarantineReason).toBeUndefined();
    expect(log.writable().ok).toBe(true);
    expect(log.endOffset()).toBe(end + 600);
    const got = await readAll(log);
    expect(got[0]!.offset).toBe(log.startOffset());
    expect(got.map((r) => r.offset)).toEqual(Array.from({ length: got.length }, (_, k) => log.startOffset() + k));
  });

  it('a topic delete under it stops it without an error or a quarantine', async () => {
    const { store, topic, log } = await crashedWithSegments();
    let calls = 0;
    await log.scrub(async () => {
      if (calls++ === 0) await store.deleteTopic(topic);
      return true;
    });
    expect(calls).toBe(1);
    expect(log.quarantineReason).toBeUndefined();
  });
});

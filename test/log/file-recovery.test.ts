// Recovery of the file store from torn tails and corruption (DESIGN §4): cut to the last
// valid batch above the recovery point, quarantine (never truncate) below it.
import { open as fsOpen, readFile, stat, truncate, unlink, appendFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CLEAN_SHUTDOWN_MARKER, LogCorruptionError, PackedRecords, type LogFs } from '../../src/log/index.js';
import { segmentName } from '../../src/log/segment.js';
import { encodeBatch } from '../../src/log/record-batch.js';
import {
  batch,
  cleanUpAfterEach,
  config,
  crashableStore,
  expectIndexesMatchRebuild,
  newTopic,
  readAll,
  readUpTo,
  reopenStore,
  segmentFiles,
  waitFor,
} from './helpers.js';

cleanUpAfterEach();

async function setup(batches: number, extraConfig = {}) {
  const { dir, store } = await crashableStore();
  const topic = newTopic();
  const log = await store.createPartition(topic, 0, { ...config, ...extraConfig });
  const sizes: number[] = [];
  for (let i = 0; i < batches; i++) {
    const before = log.sizeBytes();
    expect((await log.append(batch(i, 3, 200), { durability: 'fsync' })).ok).toBe(true);
    sizes.push(log.sizeBytes() - before);
  }
  const pdir = `${dir}/${topic}/0`;
  return { dir, pdir, topic, store, log, sizes };
}

describe('file store recovery', () => {
  it('reopens cleanly with data, indexes and offsets intact, and removes the marker', async () => {
    const { dir, topic, store, pdir } = await setup(40, { segmentBytes: 8192 });
    await store.close();
    await expectIndexesMatchRebuild(pdir);
    const { store: again, report } = await reopenStore(dir);
    expect(report).toMatchObject({ cleanShutdown: true, partitions: 1, truncated: [], quarantined: [] });
    await expect(stat(`${dir}/${CLEAN_SHUTDOWN_MARKER}`)).rejects.toThrow();
    const log = again.getPartition(topic, 0)!;
    expect([log.startOffset(), log.endOffset()]).toEqual([0, 120]);
    const all = await readAll(log);
    expect(all.map((r) => r.value?.toString().slice(0, 6))).toEqual(
      Array.from({ length: 120 }, (_, o) => `b${Math.floor(o / 3)}r${o % 3}`.padEnd(6, '.').slice(0, 6)),
    );
    expect(await log.offsetForTimestamp(1_000_000 + 17)).toBe(51);
    expect(await log.append(batch(99), { durability: 'fsync' })).toEqual({
      ok: true,
      value: { baseOffset: 120, lastOffset: 122 },
    });
  });

  const tears: Array<[string, (path: string, lastPos: number, lastSize: number) => Promise<void>, boolean]> = [
    ['truncated inside the last header', (p, pos) => truncate(p, pos + 30), true],
    ['truncated inside the last batch body', (p, pos, size) => truncate(p, pos + size - 5), true],
    [
      'random bytes appended',
      (p) => appendFile(p, Buffer.from(Array.from({ length: 777 }, (_, i) => (i * 131 + 7) & 255))),
      false,
    ],
    ['zeros appended', (p) => appendFile(p, Buffer.alloc(4096)), false],
    [
      'a bit flipped in the last batch',
      async (p, pos, size) => {
        const h = await fsOpen(p, 'r+');
        const b = Buffer.alloc(1);
        await h.read(b, 0, 1, pos + size - 10);
        b[0]! ^= 0x04;
        await h.write(b, 0, 1, pos + size - 10);
        await h.close();
      },
      true,
    ],
  ];
  for (const [name, tear, losesLast] of tears) {
    it(`cuts a torn tail (${name}) to the last valid batch and rebuilds the index`, async () => {
      const { dir, pdir, topic, sizes } = await setup(30);
      // No close: a crash. The recovery point is still 0, so everything is a tail.
      const path = `${pdir}/${(await segmentFiles(pdir)).at(-1)}`;
      const fileSize = (await stat(path)).size;
      const lastSize = sizes.at(-1)!;
      await tear(path, fileSize - lastSize, lastSize);
      const torn = (await stat(path)).size;
      const { store, report } = await reopenStore(dir);
      const expectedSize = losesLast ? fileSize - lastSize : fileSize;
      expect(report.cleanShutdown).toBe(false);
      expect(report.truncated).toEqual(
        torn === expectedSize ? [] : [{ topicId: topic, partition: 0, bytes: torn - expectedSize }],
      );
      expect((await stat(path)).size).toBe(expectedSize);
      const log = store.getPartition(topic, 0)!;
      const count = losesLast ? 29 * 3 : 30 * 3;
      expect(log.endOffset()).toBe(count);
      expect((await readAll(log)).map((r) => r.offset)).toEqual(Array.from({ length: count }, (_, i) => i));
      expect(await log.append(batch(50), { durability: 'fsync' })).toEqual({
        ok: true,
        value: { baseOffset: count, lastOffset: count + 2 },
      });
      await store.close();
      await expectIndexesMatchRebuild(pdir);
    });
  }

  it('keeps the one-line JSON bit across restarts, and cuts a tail whose bit was flipped like any torn batch', async () => {
    const { dir, store } = await crashableStore();
    const topic = newTopic();
    const log = await store.createPartition(topic, 0, config);
    const sizes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const p = new PackedRecords(64, true);
      const v = Buffer.from(`{"n":${i}}`);
      for (let j = 0; j < 3; j++) p.add(v, 0, -1, 0, v.length, new Int32Array(0), 0, 1_000_000 + i, i !== 1);
      const before = log.sizeBytes();
      expect((await log.append(p, { durability: 'fsync' })).ok).toBe(true);
      sizes.push(log.sizeBytes() - before);
    }
    const flags = async (l: typeof log) => {
      const r = await l.readRun(0, { maxRecords: 100, maxBytes: 1 << 20 });
      if (!r.ok) throw new Error('out of range');
      return Array.from({ length: r.value.run.length }, (_, i) => r.value.run.oneLineJson(i));
    };
    const want = [true, false, true, true].flatMap((f) => [f, f, f]);
    expect(await flags(log)).toEqual(want);
    // A crash, then the last batch's bit flipped on disk: the CRC no longer matches, so it is a torn tail.
    const pdir = `${dir}/${topic}/0`;
    const path = `${pdir}/${(await segmentFiles(pdir)).at(-1)}`;
    const lastAt = (await stat(path)).size - sizes.at(-1)!;
    const h = await fsOpen(path, 'r+');
    const attr = Buffer.alloc(1);
    await h.read(attr, 0, 1, lastAt + 21);
    expect(attr[0]).toBe(0x01); // the high byte of the attributes: ONE_LINE_JSON_VALUES
    await h.write(Buffer.from([0]), 0, 1, lastAt + 21);
    await h.close();
    const { store: again, report } = await reopenStore(dir);
    expect(report.truncated).toEqual([{ topicId: topic, partition: 0, bytes: sizes.at(-1)! }]);
    const recovered = again.getPartition(topic, 0)!;
    expect(recovered.endOffset()).toBe(9);
    expect(await flags(recovered)).toEqual(want.slice(0, 9));
  });

  it('quarantines a closed (fsynced) segment found short at open', async () => {
    const { dir, pdir, topic } = await setup(30, { segmentBytes: 4096 });
    const files = await segmentFiles(pdir);
    await truncate(`${pdir}/${files[1]}`, (await stat(`${pdir}/${files[1]}`)).size - 1);
    const { store, report } = await reopenStore(dir);
    expect(report.quarantined).toMatchObject([{ topicId: topic, partition: 0 }]);
    expect(report.truncated).toEqual([]);
    expect(await segmentFiles(pdir)).toEqual(files);
    expect(store.getPartition(topic, 0)!.writable().ok).toBe(false);
  });

  it('drops segments after a torn one and segments that break the offset chain', async () => {
    const { dir, pdir, topic } = await setup(30, { segmentBytes: 4096 });
    // Pretend the recovery point lagged (as after a crash before a checkpoint): all is a tail.
    await writeFile(`${pdir}/partition.checkpoint`, JSON.stringify({ startOffset: 0, recoveryPoint: 0 }));
    const files = await segmentFiles(pdir);
    expect(files.length).toBeGreaterThan(3);
    const victim = files.at(-2)!;
    const victimSize = (await stat(`${pdir}/${victim}`)).size;
    await truncate(`${pdir}/${victim}`, victimSize - 1);
    const { store, report } = await reopenStore(dir);
    const log = store.getPartition(topic, 0)!;
    expect(await segmentFiles(pdir)).toEqual(files.slice(0, -1));
    expect(report.truncated[0]?.bytes).toBeGreaterThan(0);
    const all = await readAll(log);
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: log.endOffset() }, (_, i) => i));
    expect(log.endOffset() % 3).toBe(0);
    // A stray segment whose base does not follow the log is dropped too.
    await store.close();
    await unlink(`${dir}/${CLEAN_SHUTDOWN_MARKER}`);
    await writeFile(
      `${pdir}/${String(log.endOffset() + 50).padStart(20, '0')}.log`,
      encodeBatch({ baseOffset: log.endOffset() + 50, records: batch(1) }),
    );
    const { store: s2 } = await reopenStore(dir);
    expect(s2.getPartition(topic, 0)!.endOffset()).toBe(log.endOffset());
    expect(await segmentFiles(pdir)).toEqual(files.slice(0, -1));
  });

  it('quarantines a partition with a flipped bit below the recovery point instead of truncating', async () => {
    const { dir, pdir, topic, store, sizes } = await setup(20);
    await store.close(); // recovery point = end of log
    await unlink(`${dir}/${CLEAN_SHUTDOWN_MARKER}`); // and then a crash: recovery scans
    const path = `${pdir}/${(await segmentFiles(pdir))[0]}`;
    const before = await readFile(path);
    const corruptAt = sizes.slice(0, 10).reduce((a, b) => a + b, 0) + 70; // inside batch 10
    const h = await fsOpen(path, 'r+');
    await h.write(Buffer.from([before[corruptAt]! ^ 0x01]), 0, 1, corruptAt);
    await h.close();
    const { store: again, report } = await reopenStore(dir);
    expect(report.truncated).toEqual([]);
    // The start resumes after the checkpointed position; the background scrub finds it.
    const found = await waitFor('the scrub to quarantine the partition', () =>
      again.quarantined().length > 0 ? again.quarantined() : undefined,
    );
    expect(found).toEqual([
      { topicId: topic, partition: 0, reason: expect.stringMatching(/below the recovery point/) },
    ]);
    expect((await stat(path)).size).toBe(before.length);
    expect(
      (await readFile(path)).equals(Buffer.from(before).fill(before[corruptAt]! ^ 0x01, corruptAt, corruptAt + 1)),
    ).toBe(true);
    const log = again.getPartition(topic, 0)!;
    expect(log.writable().ok).toBe(false);
    const r = await log.append(batch(1), { durability: 'fsync' });
    expect(r.ok || r.error.code).toBe('partition_read_only');
    expect((await readUpTo(log, 30)).map((x) => x.offset)).toEqual(Array.from({ length: 30 }, (_, i) => i)); // the 10 good batches before it are served
    await expect(log.read(30, { maxRecords: 10, maxBytes: 1 << 20 })).rejects.toBeInstanceOf(LogCorruptionError);
  });

  it('never serves a corrupt batch found after a clean start, and quarantines on sight', async () => {
    const { dir, pdir, topic, store, sizes } = await setup(30, { segmentBytes: 8192 });
    await store.close();
    const files = await segmentFiles(pdir);
    const path = `${pdir}/${files[0]}`;
    const h = await fsOpen(path, 'r+');
    await h.write(Buffer.from([0xff, 0xff]), 0, 2, sizes[0]! - 4);
    await h.close();
    const { store: again, report } = await reopenStore(dir);
    expect(report.quarantined).toEqual([]);
    const log = again.getPartition(topic, 0)!;
    await expect(log.read(0, { maxRecords: 10, maxBytes: 1 << 20 })).rejects.toBeInstanceOf(LogCorruptionError);
    expect(again.quarantined()).toMatchObject([{ topicId: topic, partition: 0 }]);
    expect(log.writable().ok).toBe(false);
  });

  it('keeps retention progress and recent tags across restarts; offsets are never reused', async () => {
    const start = 2_000_000;
    let now = start;
    const { dir, store } = await crashableStore({ clock: () => now });
    const topic = newTopic();
    const log = await store.createPartition(topic, 0, { ...config, segmentBytes: 2048, retentionMs: 1000 });
    for (let i = 0; i < 12; i++) {
      now = start + i; // recentTags and retention follow append time (the store's clock)
      await log.append(
        batch(i, 2, 100).map((r) => ({ ...r, timestamp: now + i })),
        { durability: 'fsync', tag: i % 4 === 0 ? Buffer.from(`tag${i}`) : undefined },
      );
    }
    expect((await log.recentTags(start + 5)).map((x) => x.tag.toString())).toEqual(['tag8']);
    // Crash (no close), reopen: tags come back from the log itself.
    const { store: s2 } = await reopenStore(dir);
    const l2 = s2.getPartition(topic, 0)!;
    expect((await l2.recentTags(0)).map((x) => [x.baseOffset, x.lastOffset, x.tag.toString()])).toEqual([
      [0, 1, 'tag0'],
      [8, 9, 'tag4'],
      [16, 17, 'tag8'],
    ]);
    l2.updateConfig({ ...config, segmentBytes: 2048, retentionMs: 1000 });
    await s2.enforceRetention(now + 10_000);
    expect([l2.startOffset(), l2.endOffset()]).toEqual([24, 24]);
    await s2.close();
    const { store: s3 } = await reopenStore(dir);
    const l3 = s3.getPartition(topic, 0)!;
    expect([l3.startOffset(), l3.endOffset()]).toEqual([24, 24]);
    expect(await l3.append(batch(0), { durability: 'fsync' })).toEqual({
      ok: true,
      value: { baseOffset: 24, lastOffset: 26 },
    });
  });
});

describe('opening many partitions', () => {
  it('recovers at most `recoveryConcurrency` partitions at once, reporting each in order; a failure fails the open', async () => {
    const { dir, store } = await crashableStore({ scrubBytesPerSec: 0 });
    const topics = [newTopic(), newTopic()].sort();
    for (const topic of topics)
      for (let p = 0; p < 5; p++) {
        const log = await store.createPartition(topic, p, config);
        for (let i = 0; i < 4; i++) expect((await log.append(batch(i), { durability: 'fsync' })).ok).toBe(true);
      }
    // A crash tearing two partitions' tails.
    const torn = [
      { topicId: topics[0]!, partition: 3 },
      { topicId: topics[1]!, partition: 1 },
    ];
    for (const t of torn) await appendFile(`${dir}/${t.topicId}/${t.partition}/${segmentName(0)}.log`, 'garbage');

    // Each partition's recovery starts by listing its directory: hold those until 4 wait.
    const partitionDir = /\/[^/]+\/\d+$/;
    let started = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const fault: { dir?: string } = {};
    const gated = (fs: LogFs): LogFs => ({
      ...fs,
      readdir: async (path) => {
        if (partitionDir.test(path)) {
          started++;
          if (fault.dir && path.endsWith(fault.dir)) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
          await gate;
        }
        return fs.readdir(path);
      },
    });
    const opening = crashableStore({ scrubBytesPerSec: 0, recoveryConcurrency: 4 }, { dataDir: dir, wrapFs: gated });
    await waitFor('four recoveries waiting', () => (started === 4 ? true : undefined), 15_000);
    expect(started).toBe(4); // all four workers wait: no fifth can start
    release();
    const { store: again, report } = await opening;
    expect(started).toBe(10);
    expect(report.partitions).toBe(10);
    expect(report.truncated).toEqual(torn.map((t) => ({ ...t, bytes: 7 })));
    for (const topic of topics)
      for (let p = 0; p < 5; p++)
        expect((await readAll(again.getPartition(topic, p)!)).map((r) => r.offset)).toEqual(
          Array.from({ length: 12 }, (_, i) => i),
        );

    // A partition whose recovery fails fails the open; no recovery starts after it.
    started = 0;
    fault.dir = `${topics[0]}/1`;
    await expect(
      crashableStore({ scrubBytesPerSec: 0, recoveryConcurrency: 4 }, { dataDir: dir, wrapFs: gated }),
    ).rejects.toThrow(/EIO: injected/);
    expect(started).toBeLessThanOrEqual(5);
  });
});

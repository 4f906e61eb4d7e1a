// The background scrub after open (DESIGN §4): every segment below the recovery point is
// CRC-checked without any read asking for it; corruption quarantines, nothing is cut.
import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { LogCorruptionError } from '../../src/log/index.js';
import {
  batch,
  cleanUpAfterEach,
  config,
  expectIndexesMatchRebuild,
  newTopic,
  openStore,
  readUpTo,
  reopenStore,
  scratchDir,
  waitFor,
} from './helpers.js';
import { closedSegments, flippedBitInClosedSegment, flushedThenCrashed, indexFile } from './damaged-segments.js';

cleanUpAfterEach();

describe('log scrub', () => {
  it('finds a bit flipped in the middle of a closed segment after a clean start, without any read', async () => {
    // Closed cleanly: the next start verifies only tails. The flipped bit is in a closed segment.
    const { dir, topic, files, path, badOffset } = await flippedBitInClosedSegment();
    const damaged = await readFile(path);

    const scrubbed: number[] = [];
    let finished = 0;
    const { store: again, report } = await reopenStore(dir, {
      observer: { scrubbed: (n) => scrubbed.push(n), scrubFinished: () => finished++ },
    });
    expect(report).toMatchObject({ cleanShutdown: true, quarantined: [], truncated: [] });
    const found = await waitFor('the scrub to quarantine partition 0', () =>
      again.quarantined().length > 0 ? again.quarantined() : undefined,
    );
    expect(found).toEqual([
      {
        topicId: topic,
        partition: 0,
        reason: expect.stringMatching(
          new RegExp(
            `${files[1]}.*offset ${badOffset}, below the recovery point 120 \\(found by the background scrub\\)`,
          ),
        ),
      },
    ]);
    await waitFor('the scrub to finish', () => (finished > 0 ? true : undefined));
    expect(scrubbed.reduce((a, n) => a + n, 0)).toBeGreaterThan(0);
    // Nothing cut or rewritten; read-only; the intact prefix served, the bad batch never.
    expect((await readFile(path)).equals(damaged)).toBe(true);
    const log = again.getPartition(topic, 0)!;
    expect(log.writable().ok).toBe(false);
    const r = await log.append(batch(1), { durability: 'fsync' });
    expect(r.ok || r.error.code).toBe('partition_read_only');
    expect((await readUpTo(log, badOffset)).length).toBe(badOffset);
    await expect(log.read(badOffset, { maxRecords: 10, maxBytes: 1 << 20 })).rejects.toBeInstanceOf(LogCorruptionError);
    // The other partition was scrubbed clean and keeps taking writes.
    const other = again.getPartition(topic, 1)!;
    expect(await other.append(batch(99), { durability: 'fsync' })).toEqual({
      ok: true,
      value: { baseOffset: 120, lastOffset: 122 },
    });
  });

  it('compares the index files of closed segments with the batches it scans and rebuilds the ones that differ', async () => {
    const { dir, topic, pdir, names } = await closedSegments();
    // Segment 1: an offset entry naming an offset two before its batch. Segment 0: a time
    // entry naming the batch after its own.
    const indexPath = indexFile(pdir, names[1]!, 'index');
    const idx = await readFile(indexPath);
    const base = Number(names[1]!.slice(0, 20));
    const rel = idx.readInt32BE(8);
    idx.writeInt32BE(rel - 2, 8);
    await writeFile(indexPath, idx);
    const timePath = indexFile(pdir, names[0]!, 'timeindex');
    const time = await readFile(timePath);
    time.writeInt32BE(time.readInt32BE(20) + 3, 20);
    await writeFile(timePath, time);

    let rebuilt = 0;
    let finished = 0;
    const { store: again } = await reopenStore(dir, {
      observer: { indexRebuilt: () => rebuilt++, scrubFinished: () => finished++ },
    });
    await waitFor('the scrub to finish', () => (finished > 0 ? true : undefined));
    // Before the fix: no rebuild, and the damaged files stay for every later start to load.
    expect(rebuilt).toBe(2);
    expect(again.quarantined()).toEqual([]);
    await expectIndexesMatchRebuild(pdir);
    const r = await again.getPartition(topic, 0)!.read(base + rel - 2, { maxRecords: 3, maxBytes: 1 << 20 });
    expect(r.ok && r.value.records.map((x) => x.offset)).toEqual([base + rel - 2, base + rel - 1, base + rel]);
    expect(rebuilt).toBe(2);
  });

  it("compares the active segment's index in memory with the batches below the recovery point and rebuilds it", async () => {
    const { dir, topic, pdir, name } = await flushedThenCrashed();
    const indexPath = indexFile(pdir, name, 'index');
    const idx = await readFile(indexPath);
    const rel = idx.readInt32BE(16);
    idx.writeInt32BE(rel - 2, 16);
    await writeFile(indexPath, idx);

    let rebuilt = 0;
    let finished = 0;
    const { store: again, report } = await reopenStore(dir, {
      observer: { indexRebuilt: () => rebuilt++, scrubFinished: () => finished++ },
    });
    expect(report.cleanShutdown).toBe(false);
    await waitFor('the scrub to finish', () => (finished > 0 ? true : undefined));
    expect(rebuilt).toBe(1);
    expect(again.quarantined()).toEqual([]);
    const p = again.getPartition(topic, 0)!;
    const r = await p.read(rel - 2, { maxRecords: 3, maxBytes: 1 << 20 });
    expect(r.ok && r.value.records.map((x) => x.offset)).toEqual([rel - 2, rel - 1, rel]);
    expect(rebuilt).toBe(1);
    // The rewritten files hold the log's index: a clean close and a fresh check agree.
    expect((await p.append(batch(60), { durability: 'fsync' })).ok).toBe(true);
    await again.close();
    await expectIndexesMatchRebuild(pdir);
  });

  it('is off with scrubBytesPerSec 0 and stops promptly when the store closes', async () => {
    const dir = await scratchDir();
    const topic = newTopic();
    const store = await openStore(dir);
    const log = await store.createPartition(topic, 0, config);
    for (let i = 0; i < 400; i++) await log.append(batch(i, 3, 2000), { durability: 'write' });
    await store.close();

    let off = 0;
    const disabled = await openStore(dir, { scrubBytesPerSec: 0, observer: { scrubbed: () => off++ } });
    await disabled.close();
    expect(off).toBe(0);

    // 2.4 MB at 64 KiB/s would take ~40 s: close must not wait for it.
    let read = 0;
    const slow = await openStore(dir, { scrubBytesPerSec: 64 * 1024, observer: { scrubbed: (n) => (read += n) } });
    await waitFor('the scrub to start reading', () => (read > 0 ? true : undefined));
    const t0 = Date.now();
    await slow.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(read).toBeLessThan(2_400_000);
  });
});

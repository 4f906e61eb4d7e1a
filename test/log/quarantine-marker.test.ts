// A quarantine (found by a read, the background scrub or a start's own scan) is kept across
// restarts by a marker in the partition directory, until the damaged segment verifies again.
import { access, readFile, unlink, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CLEAN_SHUTDOWN_MARKER, LogCorruptionError, type LogStore } from '../../src/log/index.js';
import { QUARANTINE_FILE } from '../../src/log/partition-quarantine.js';
import { batch, cleanUpAfterEach, crashableStore, openStore, readAll, readUpTo, waitFor } from './helpers.js';
import { flippedBitInClosedSegment } from './damaged-segments.js';

cleanUpAfterEach();

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** The store on `dir`, closed by the caller. */
function start(dir: string, scrubBytesPerSec = 0, onScrubFinished?: () => void): Promise<LogStore> {
  return openStore(dir, { scrubBytesPerSec, observer: { scrubFinished: () => onScrubFinished?.() } });
}

/** After a restart with the scrub off: still quarantined, read-only, the prefix served, the bad batch never. */
async function expectStillQuarantined(dir: string, topic: string, badOffset: number, reason: RegExp): Promise<void> {
  const store = await start(dir);
  try {
    expect(store.quarantined()).toEqual([{ topicId: topic, partition: 0, reason: expect.stringMatching(reason) }]);
    const log = store.getPartition(topic, 0)!;
    expect(log.writable().ok).toBe(false);
    const r = await log.append(batch(1), { durability: 'fsync' });
    expect(r.ok || r.error.code).toBe('partition_read_only');
    expect((await readUpTo(log, badOffset)).length).toBe(badOffset);
    await expect(log.read(badOffset, { maxRecords: 3, maxBytes: 1 << 20 })).rejects.toBeInstanceOf(LogCorruptionError);
    expect((await store.getPartition(topic, 1)!.append(batch(2), { durability: 'fsync' })).ok).toBe(true);
  } finally {
    await store.close();
  }
}

/** Once the bytes verify again the next start removes the marker and serves the partition. */
async function expectServedAgain(dir: string, pdir: string, topic: string, flip: () => Promise<void>): Promise<void> {
  await flip(); // the damaged byte restored (e.g. from a backup)
  const store = await start(dir);
  try {
    expect(store.quarantined()).toEqual([]);
    expect(await exists(`${pdir}/${QUARANTINE_FILE}`)).toBe(false);
    const log = store.getPartition(topic, 0)!;
    expect((await log.append(batch(40), { durability: 'fsync' })).ok).toBe(true);
    expect((await readAll(log)).length).toBe(123);
  } finally {
    await store.close();
  }
}

describe('a quarantine found while running survives a restart', () => {
  it('found by the background scrub: the next start (scrub off) keeps it, until the segment verifies again', async () => {
    const { dir, pdir, topic, badOffset, flip } = await flippedBitInClosedSegment();
    let finished = 0;
    const store = await start(dir, 64 * 1024 * 1024, () => finished++);
    await waitFor('the scrub to quarantine partition 0', () => (store.quarantined().length > 0 ? true : undefined));
    await waitFor('the scrub to finish', () => (finished > 0 ? true : undefined));
    expect(await exists(`${pdir}/${QUARANTINE_FILE}`)).toBe(true);
    await store.close();

    // Before the fix: the restart served the partition again (quarantined() was []) and took writes.
    await expectStillQuarantined(dir, topic, badOffset, /found by the background scrub.*still invalid at this start/);
    // Still there at a second restart: the marker stays while the damage does.
    await expectStillQuarantined(dir, topic, badOffset, /found by the background scrub/);
    await expectServedAgain(dir, pdir, topic, flip);
  });

  it('found by a read: the next start keeps it too', async () => {
    const { dir, pdir, topic, badOffset, flip } = await flippedBitInClosedSegment();
    const store = await start(dir);
    await expect(
      store.getPartition(topic, 0)!.read(badOffset, { maxRecords: 3, maxBytes: 1 << 20 }),
    ).rejects.toBeInstanceOf(LogCorruptionError);
    expect(store.quarantined().map((q) => q.partition)).toEqual([0]);
    await store.close();

    // Before the fix: served and writable again after the restart.
    await expectStillQuarantined(dir, topic, badOffset, /invalid batch.*still invalid at this start/);
    await expectServedAgain(dir, pdir, topic, flip);
  });
});

describe('a quarantine found by the scan at start is recorded the same way', () => {
  it('the marker names the damaged segment; a later start that does not scan there keeps the quarantine, until it verifies', async () => {
    const { dir, pdir, topic, badOffset, badSegment, flip } = await flippedBitInClosedSegment();
    // As after a crash whose last flush checkpointed a batch past the damage (no resume position):
    // the start scans that segment whole and finds the damage below the recovery point.
    await unlink(`${dir}/${CLEAN_SHUTDOWN_MARKER}`);
    const recoveryPoint = badOffset + 3;
    await writeFile(`${pdir}/partition.checkpoint`, JSON.stringify({ startOffset: 0, recoveryPoint }));
    const store = await start(dir);
    expect(store.quarantined()).toEqual([
      { topicId: topic, partition: 0, reason: expect.stringMatching(/invalid batch.*below the recovery point/) },
    ]);
    const reason = store.quarantined()[0]?.reason;
    await store.close();
    // Before the fix: no marker, so only a start that happened to scan there again found the damage.
    const marker = JSON.parse(await readFile(`${pdir}/${QUARANTINE_FILE}`, 'utf8')) as Record<string, unknown>;
    expect(marker).toMatchObject({ segment: badSegment, reason });

    // A start that trusts the log there (a clean one, as a store whose partitions all closed cleanly leaves it).
    await writeFile(`${dir}/${CLEAN_SHUTDOWN_MARKER}`, new Date().toISOString());
    await expectStillQuarantined(dir, topic, badOffset, /below the recovery point.*still invalid at this start/);
    await expectServedAgain(dir, pdir, topic, flip);
  });

  it('a start reads the marker only where the directory lists one', async () => {
    const { dir, topic } = await flippedBitInClosedSegment();
    const opened: string[] = [];
    const { store } = await crashableStore(
      { scrubBytesPerSec: 0 },
      { dataDir: dir, wrapFs: (fs) => ({ ...fs, open: (path, flags) => (opened.push(path), fs.open(path, flags)) }) },
    );
    expect(store.partitions(topic)).toEqual([0, 1]);
    expect(opened.filter((p) => p.endsWith(QUARANTINE_FILE))).toEqual([]);
    await store.close();
  });
});

// Injected I/O failures (EIO, ENOSPC) on write and fsync: never acknowledged, never
// visible, the partition turns read-only until a reopen re-verifies it. Also group commit.
import { stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { faultInjectingLogFs, nodeLogFs, type FaultOp } from '../../src/log/index.js';
import {
  afterTest,
  batch,
  cleanUpAfterEach,
  config,
  newTopic,
  openStore,
  readAll,
  scratchDir,
  segmentFiles,
} from './helpers.js';

cleanUpAfterEach();

async function faultyStore() {
  const dir = await scratchDir();
  const faults: { op?: FaultOp; code?: string } = {};
  const counts = { datasync: 0, write: 0 };
  const fs = faultInjectingLogFs(nodeLogFs, (op, path) => {
    if (!path.endsWith('.log')) return undefined;
    if (op === 'datasync') counts.datasync++;
    if (op === 'write') counts.write++;
    return op === faults.op ? faults.code : undefined;
  });
  const store = await openStore(dir, { fs });
  afterTest(() => store.close());
  const topic = newTopic();
  const log = await store.createPartition(topic, 0, config);
  return { dir, topic, store, log, faults, counts, pdir: `${dir}/${topic}/0` };
}

describe('file store I/O failures', () => {
  for (const [op, code, expected] of [
    ['datasync', 'EIO', 'io_error'],
    ['write', 'ENOSPC', 'storage_full'],
    ['write', 'EIO', 'io_error'],
  ] as const) {
    it(`${code} on ${op}: the append fails ${expected}, nothing becomes visible, writes stop until reopen`, async () => {
      const { dir, topic, store, log, faults, pdir } = await faultyStore();
      for (let i = 0; i < 5; i++) await log.append(batch(i), { durability: 'fsync' });
      const path = `${pdir}/${(await segmentFiles(pdir))[0]}`;
      const sizeBefore = (await stat(path)).size;
      faults.op = op;
      faults.code = code;
      const seen: number[] = [];
      log.onAppend((end) => seen.push(end));
      const [failed, queued] = await Promise.all([
        log.append(batch(5), { durability: 'fsync' }),
        log.append(batch(6), { durability: 'fsync' }),
      ]);
      expect(failed).toMatchObject({ ok: false, error: { code: expected } });
      expect(queued.ok).toBe(false);
      expect(['partition_read_only', expected]).toContain(!queued.ok && queued.error.code);
      expect(log.endOffset()).toBe(15);
      expect(seen).toEqual([]);
      expect(log.writable()).toMatchObject({ ok: false, reason: expect.stringMatching(code) });
      expect((await stat(path)).size).toBe(sizeBefore); // the partial write was cut back
      expect((await readAll(log)).length).toBe(15);
      faults.op = undefined; // the disk is healthy again, but the partition stays read-only…
      const later = await log.append(batch(7), { durability: 'write' });
      // A partition stopped by a full disk keeps saying so (507 upstream); other faults say read-only.
      const refusal = expected === 'storage_full' ? 'storage_full' : 'partition_read_only';
      expect(later).toMatchObject({ ok: false, error: { code: refusal } });
      await store.close();
      const again = await openStore(dir); // …until a reopen re-verifies it
      afterTest(() => again.close());
      const reopened = again.getPartition(topic, 0)!;
      expect(reopened.writable().ok).toBe(true);
      expect(await reopened.append(batch(8), { durability: 'fsync' })).toEqual({
        ok: true,
        value: { baseOffset: 15, lastOffset: 17 },
      });
      expect((await readAll(reopened)).map((r) => r.value?.toString())).toEqual([
        ...Array.from({ length: 15 }, (_, o) => `b${Math.floor(o / 3)}r${o % 3}`),
        'b8r0',
        'b8r1',
        'b8r2',
      ]);
    });
  }

  it('group commit: concurrent fsync appends share a few fdatasyncs', async () => {
    const { log, counts } = await faultyStore();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => log.append(batch(i, 1), { durability: 'fsync' })),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    expect(log.endOffset()).toBe(200);
    expect(counts.datasync).toBeLessThanOrEqual(10);
    expect(counts.write).toBeLessThanOrEqual(10);
  });

  it("'write' durability never fdatasyncs on the append path", async () => {
    const { log, counts } = await faultyStore();
    for (let i = 0; i < 20; i++) expect((await log.append(batch(i, 1), { durability: 'write' })).ok).toBe(true);
    expect(counts.datasync).toBe(0);
    expect(counts.write).toBe(20);
  });
});
